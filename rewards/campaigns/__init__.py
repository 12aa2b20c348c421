"""Campaigns and the rule engine: the rule language, campaign definitions in versions, the live
engine on outbox events, daily events, simulation and reports."""
