"""The states a notification and a send move through, as stored in their `state` columns.

A notification: `pending` (stored) → [`paged`: a critical alert's facts queued for sending at once] → `analysed`
(facts, prompt, answer, verdict and text stored, and its sends queued in the same transaction) → `done` (every send
sent or parked); or, after `processing.max_attempts` failed tries, `parked` with its error (and a notice to the admin
channels queued).

A send: `pending` → `inflight` → `sent` after the channel's success answer, or `parked` with the reason when it can
never succeed; one left in flight by a crash or an unrecordable outcome is sent again.
"""

import enum


class Note(enum.StrEnum):
    """A notification's state."""

    PENDING = "pending"
    PAGED = "paged"
    ANALYSED = "analysed"
    DONE = "done"
    PARKED = "parked"


class Send(enum.StrEnum):
    """A send's state."""

    PENDING = "pending"
    INFLIGHT = "inflight"
    SENT = "sent"
    PARKED = "parked"
