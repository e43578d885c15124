"""Canonical column names, vocabularies and dtypes shared by every stage.

Readers turn any input into frames with these columns; every later stage relies on them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

TIMESTAMP = pl.Datetime("us", "UTC")

#: Stands for "never" where a time must be compared (as_of of a list with no dates at all).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Event vocabulary of the contract, plus ``unknown`` for types listkit does not recognise
#: (kept and counted, never fatal).
EVENT_TYPES = ("send", "delivered", "open", "click", "bounce", "complaint", "unsubscribe", "unknown")
EVENT_DTYPE = pl.Enum(list(EVENT_TYPES))

#: Canonical subscriber columns, in output order. ``source_row`` and ``email`` are always present;
#: the optional ones are present as nulls when the input lacks them.
SUBSCRIBER_COLUMNS = {
    "source_row": pl.UInt32,
    "email": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "signup_at": TIMESTAMP,
    "source": pl.String,
    "status": pl.String,
}

#: Canonical event columns. ``event_raw`` keeps the name the input used (for counting unknown types).
EVENT_COLUMNS = {
    "source_row": pl.UInt32,
    "email": pl.String,
    "event": EVENT_DTYPE,
    "event_raw": pl.String,
    "timestamp": TIMESTAMP,
    "campaign": pl.String,
    "bounce_type": pl.String,  # "hard", "soft" or null
    "smtp_status": pl.String,
    "user_agent": pl.String,
    "machine_open": pl.Boolean,
}

#: Header aliases (compared case-insensitively, after trimming). The canonical name itself is always
#: an alias. When several aliases of one column are present, the first in this order wins and the
#: others pass through untouched.
SUBSCRIBER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "Email Address", "Email", "E-mail", "email_address", "EMAIL", "Email_Address"),
    "first_name": ("first_name", "First Name", "FNAME", "firstname", "FirstName"),
    "last_name": ("last_name", "Last Name", "LNAME", "lastname", "LastName"),
    "signup_at": ("signup_at", "OPTIN_TIME", "CONFIRM_TIME", "created_at", "Date Added", "created"),
    "source": ("source", "SOURCE", "signup_source"),
    "status": ("status", "Status", "MEMBER_STATUS", "member_status"),
}

EVENT_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "recipient", "Email", "email_address", "Email Address", "to"),
    "event": ("event", "event_type", "type", "Event", "Metric Name"),
    "timestamp": ("timestamp", "time", "event_time", "Timestamp", "date", "datetime", "created_at"),
    "campaign": ("campaign", "campaign_id", "Campaign", "message_id", "sg_message_id"),
    "bounce_type": ("bounce_type", "bounceType", "Bounce Type", "severity"),
    "smtp_status": ("smtp_status", "status", "Status", "diagnostic_code", "reason", "delivery-status"),
    "user_agent": ("user_agent", "useragent", "User Agent", "userAgent"),
    "machine_open": ("machine_open", "sg_machine_open", "is_machine_open", "Apple Privacy Open"),
}

#: Event names seen in common ESP exports (SendGrid, Mailchimp, Klaviyo, Brevo, Mailgun, SES),
#: compared case-insensitively with spaces, dashes and underscores removed. A value of
#: ``(event, bounce_type)`` pins the bounce type where the name says it.
EVENT_NAME_MAP: dict[str, tuple[str, str | None]] = {
    "send": ("send", None),
    "sent": ("send", None),
    "processed": ("send", None),
    "accepted": ("send", None),
    "request": ("send", None),
    "requests": ("send", None),
    "delivered": ("delivered", None),
    "delivery": ("delivered", None),
    "receivedemail": ("delivered", None),
    "open": ("open", None),
    "opened": ("open", None),
    "opens": ("open", None),
    "uniqueopened": ("open", None),
    "openedemail": ("open", None),
    "loadedbyproxy": ("open", None),  # Brevo's Apple MPP marker; the reader sets machine_open
    "click": ("click", None),
    "clicked": ("click", None),
    "clicks": ("click", None),
    "clickedemail": ("click", None),
    "bounce": ("bounce", None),
    "bounced": ("bounce", None),
    "bouncedemail": ("bounce", None),
    "hardbounce": ("bounce", "hard"),
    "softbounce": ("bounce", "soft"),
    "failed": ("bounce", None),
    "complaint": ("complaint", None),
    "complained": ("complaint", None),
    "spamreport": ("complaint", None),
    "spam": ("complaint", None),
    "markedemailasspam": ("complaint", None),
    "unsubscribe": ("unsubscribe", None),
    "unsubscribed": ("unsubscribe", None),
    "groupunsubscribe": ("unsubscribe", None),
    "unsub": ("unsubscribe", None),
}
