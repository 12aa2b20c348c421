"""Program analytics: points issued, redeemed and expired, the liability of outstanding points,
active members, weeks and enrolment cohorts, for the program as a whole or one store."""
