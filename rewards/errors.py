"""Errors of the ledger, redemptions and the rewards catalog."""

from loyalty.errors import Conflict, DomainError, NotFound


class InsufficientPoints(Conflict):
    slug, title = "insufficient-points", "Insufficient points"


class UnknownRedemption(NotFound):
    slug, title = "unknown-redemption", "Unknown redemption"


class RedemptionNotCancellable(Conflict):
    slug, title = "redemption-not-cancellable", "Redemption cannot be cancelled"


class UnknownReward(NotFound):
    slug, title = "unknown-reward", "Unknown reward"


class RewardUnavailable(Conflict):
    slug, title = "reward-unavailable", "Reward not available"


class UnknownVoucher(NotFound):
    slug, title = "unknown-voucher", "Unknown voucher"


class VoucherNotUsable(Conflict):
    slug, title = "voucher-not-usable", "Voucher cannot be used"


class ExternalIdConflict(Conflict):
    slug, title = "external-id-conflict", "External id reused with a different request"


class LedgerError(DomainError):
    status, slug, title = 500, "ledger-error", "Ledger error"
