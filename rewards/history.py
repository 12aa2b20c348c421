"""The receipts history as campaigns read it (simulation, reports).

Receipts belong to pos_adapters, which imports rewards; so rewards reads their table through
this Core description of the columns it needs rather than importing the model.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from loyalty.db import JsonDoc, UTCDateTime

transactions = Table(
    "transactions",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("store_id", Integer),
    Column("external_id", String),
    Column("type", String),
    Column("refund_of_id", BigInteger),
    Column("occurred_at", UTCDateTime),
    Column("member_id", BigInteger),
    Column("total_minor", BigInteger),
    Column("items", JsonDoc),
    Column("status", String),
    Column("base_points", BigInteger),
    Column("earn_basis", JsonDoc),
    Column("refunded_minor", BigInteger),
)
