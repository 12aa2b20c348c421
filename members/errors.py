"""Errors of the member profile store."""

from loyalty.errors import Conflict, Gone, NotFound


class UnknownMember(NotFound):
    slug, title = "unknown-member", "Unknown member"


class DuplicateMember(Conflict):
    slug, title = "duplicate-member", "A member with this phone or email exists"


class CodeInvalid(NotFound):
    slug, title = "code-invalid", "Code not recognised"


class CodeExpired(Gone):
    slug, title = "code-expired", "Code expired"


class CardBlocked(Gone):
    slug, title = "card-blocked", "Card blocked"


class CardReplaced(Gone):
    slug, title = "card-replaced", "Card replaced"


class MemberNotActive(Conflict):
    slug, title = "member-not-active", "This member's profile was merged or erased"
