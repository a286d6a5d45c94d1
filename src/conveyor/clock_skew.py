"""How far off a machine's clock may be from the store's, and what it costs past that.

Lease deadlines, heartbeats, due times and TTLs are written by one machine's clock and
compared with another's. A worker renews its leases every third of ``lease_ttl``, so a
lease written at its time T runs to T + lease_ttl, and its next renewal comes by
T + lease_ttl/3: a worker whose clock is two thirds of a lease ahead of the lease
holder's takes the job for abandoned before it is renewed, and runs it a second time
beside it (20 s at the default 30 s lease). Each process can measure only its own offset
from the store's clock, and two machines off in opposite directions are off from each
other by the sum, so:

- past WARN_SHARE of the lease (5 s at 30 s) a machine spends, with one as far off the
  other way, half the slack a late renewal has (a busy machine, a slow store) on clocks;
- past ERROR_SHARE (10 s at 30 s), two such machines run each other's jobs twice even
  when every renewal is on time.

A clock behind the store's delays too: it recovers dead workers' jobs, promotes
scheduled jobs and expires old ones late by as much.
"""

from __future__ import annotations

import enum

from conveyor.types import ClockOffset

WARN_SHARE = 1 / 6
"""Part of ``lease_ttl`` a machine's clock may be off the store's before workers warn."""
ERROR_SHARE = 1 / 3
"""Part of ``lease_ttl`` past which they say so as an error: double runs are likely."""
FIX = "keep every machine's clock synchronised (NTP: chronyd, ntpd or systemd-timesyncd)"
SUSPECT_THE_STORE = (
    "If every worker reports about the same offset, the store's host is the clock that is off: the workers then "
    "agree with each other and no job is at risk, but fix it all the same"
)
"""Each worker measures against the store's clock, which no lease reads: a store's clock
off alone makes every worker warn, while leases stay safe."""


class Skew(enum.IntEnum):
    """How far off a clock is, for the lease it serves."""

    IN_STEP = 0
    OFF = 1  # past WARN_SHARE
    FAR_OFF = 2  # past ERROR_SHARE


def judge(measured: ClockOffset, lease_ttl: float) -> Skew:
    """How far off the clock surely is: the offset less the measurement's uncertainty
    (a slow round trip does not make a clock look off)."""
    surely = abs(measured.offset) - measured.uncertainty
    if surely > lease_ttl * ERROR_SHARE:
        return Skew.FAR_OFF
    if surely > lease_ttl * WARN_SHARE:
        return Skew.OFF
    return Skew.IN_STEP


def describe(measured: ClockOffset) -> str:
    """The offset in words: 'this machine's clock is 6.2 s ahead of the store's (±0.4 ms)'."""
    way = "ahead of" if measured.offset >= 0 else "behind"
    return f"this machine's clock is {_seconds(measured.offset)} {way} the store's (±{_seconds(measured.uncertainty)})"


def _seconds(value: float) -> str:
    """'6.2 s', '250 ms', '0.4 ms': never in exponent form (as '.2g' writes 250)."""
    value = abs(value)
    if value >= 1:
        return f"{value:.1f} s"
    millis = value * 1000
    return f"{millis:.0f} ms" if millis >= 10 else f"{millis:.2g} ms"


def explain(measured: ClockOffset, lease_ttl: float) -> str:
    """What an offset past WARN_SHARE costs, and the fix."""
    off = _seconds(measured.offset)
    if judge(measured, lease_ttl) is Skew.FAR_OFF:
        cost = (
            f"past {lease_ttl * ERROR_SHARE:g} s (a third of lease_ttl {lease_ttl:g} s) this machine and one as far "
            "off the other way take each other's running jobs for abandoned and run them a second time"
        )
    else:
        cost = (
            f"past {lease_ttl * WARN_SHARE:g} s (a sixth of lease_ttl {lease_ttl:g} s) clocks eat the slack that "
            "keeps a live worker's jobs from being taken for abandoned and run a second time"
        )
    way = (
        f"its workers take leases for run out {off} early (running jobs of other machines included), and promote "
        "scheduled jobs as early"
        if measured.offset >= 0
        else f"other machines take its workers' leases for run out {off} early, and it recovers dead workers' jobs "
        "and promotes scheduled jobs as late"
    )
    return f"{describe(measured)}: {cost}; {way}. Fix: {FIX}. {SUSPECT_THE_STORE}"
