"""Retention as a pure decision: what to delete given the recordings, the rule and the disk usage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredRecording:
    """One finished recording as the policy sees it."""

    ref: str
    age_days: float
    size: int
    incident: bool = False


@dataclass(frozen=True)
class DiskUsage:
    """The data partition: total and used bytes."""

    total: int
    used: int

    @property
    def percent(self) -> float:
        """Used share of the partition, 0-100."""
        return 100.0 * self.used / self.total if self.total > 0 else 0.0


@dataclass(frozen=True)
class RetentionRule:
    """Days to keep ordinary and incident recordings, and the disk cap."""

    days: float = 60.0
    incident_days: float = 1095.0
    cap_percent: float = 70.0


@dataclass(frozen=True)
class Deletion:
    """One recording to delete and why (``age``, ``incident-age``, ``cap`` or ``cap-incident``)."""

    ref: str
    reason: str


@dataclass(frozen=True)
class RetentionDecision:
    """What to do, in order: raise ``alarms`` first, then delete ``deletions``."""

    deletions: tuple[Deletion, ...]
    alarms: tuple[tuple[str, str], ...]
    usage_after: DiskUsage

    @property
    def refs(self) -> tuple[str, ...]:
        """The refs to delete, in order."""
        return tuple(d.ref for d in self.deletions)


def decide(recordings: Sequence[StoredRecording], rule: RetentionRule, usage: DiskUsage) -> RetentionDecision:
    """Expired recordings go first; then, while over the cap, the oldest ordinary and then incident ones."""
    deletions: list[Deletion] = []
    alarms: list[tuple[str, str]] = []
    used = usage.used
    kept: list[StoredRecording] = []
    for rec in recordings:
        limit = rule.incident_days if rec.incident else rule.days
        if rec.age_days > limit:
            deletions.append(Deletion(rec.ref, "incident-age" if rec.incident else "age"))
            used -= rec.size
        else:
            kept.append(rec)
    cap = usage.total * rule.cap_percent / 100.0
    oldest_first = sorted(kept, key=lambda r: (-r.age_days, r.ref))
    for incident_pass in (False, True):
        for rec in oldest_first:
            if used <= cap:
                break
            if rec.incident != incident_pass:
                continue
            if incident_pass:
                alarms.append(
                    (
                        "retention.incident_evicted",
                        f"disk cap {rule.cap_percent:g}% forces out incident recording {rec.ref} "
                        f"({rec.age_days:.0f} days old) before its {rule.incident_days:g} days",
                    )
                )
            deletions.append(Deletion(rec.ref, "cap-incident" if incident_pass else "cap"))
            used -= rec.size
    if used > cap:
        alarms.append(
            (
                "retention.cap_unreachable",
                f"the data partition stays {100.0 * used / max(usage.total, 1):.0f}% full with no recording "
                f"left to delete (cap {rule.cap_percent:g}%): something else fills it",
            )
        )
    return RetentionDecision(tuple(deletions), tuple(alarms), DiskUsage(usage.total, max(used, 0)))
