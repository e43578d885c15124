"""Canonical column names, vocabularies and dtypes shared by every stage.

Readers turn any input into frames with these columns; every later stage relies on them. The second half
is the ESP vocabulary: every ESP's event names, the subtype columns that refine a bounce or a drop, and
the subscriber statuses that forbid mailing, each recorded ESP by ESP with the page it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

TIMESTAMP = pl.Datetime("us", "UTC")

#: Stands for "never" where a time must be compared (as_of of a list with no dates at all).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The span of times listkit reads, for event timestamps, sign-ups and ``as_of`` alike: no mail predates
#: 1970, a later year than 2999 is a placeholder or a typo, and inside it date arithmetic never overflows.
EARLIEST_TIME = EPOCH
LATEST_TIME = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)

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
    "bounce_type": pl.String,  # BOUNCE_VERDICTS or null (only on bounce events)
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

#: No header is an alias of two canonical columns. ``type`` names the event only when none of the
#: event aliases before it is present (HubSpot, SparkPost, Mailchimp webhooks); beside an ``event``,
#: ``RecordType`` or ``action`` column it is a subtype column (SendGrid, Postmark, Mailchimp activity).
# fmt: off
EVENT_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "recipient", "Email", "email_address", "Email Address", "rcpt_to", "to"),
    "event": (
        "event", "event_type", "eventType", "notificationType", "RecordType", "eventName", "metric",
        "Metric Name", "action", "type",
    ),
    "timestamp": (
        "timestamp", "time", "event_time", "Timestamp", "ts_event", "date", "datetime", "created_at",
        "createdAt", "created", "fired_at", "ReceivedAt", "ts",
    ),
    "campaign": (
        "campaign", "campaign_id", "Campaign", "campaignId", "message_id", "MessageID", "sg_message_id",
    ),
    "bounce_type": ("bounce_type", "bounceType", "Bounce Type", "severity"),
    "smtp_status": (
        "smtp_status", "status", "Status", "diagnostic_code", "diagnosticCode", "raw_reason",
        "delivery-status.message", "delivery-status", "diag", "bounce_reason", "reason", "Details",
    ),
    "user_agent": ("user_agent", "useragent", "User Agent", "userAgent"),
    "machine_open": ("machine_open", "sg_machine_open", "is_machine_open", "Apple Privacy Open"),
}
# fmt: on


# --- the ESP vocabulary -------------------------------------------------------------------------

#: What a bounce says about the address: ``hard`` (it is dead: suppress it), ``soft`` (try again later),
#: ``block`` (the receiver refused for reputation, policy or content: nothing about the address).
BOUNCE_VERDICTS = ("hard", "soft", "block")


@dataclass(frozen=True)
class Meaning:
    """What one ESP word (an event name, or a subtype column's value) means in the contract's terms.

    Attributes:
        event: a contract event, or ``"unknown"`` for a word listkit knows and deliberately does not count
            (a deferral, a subscribe, a message not sent for a reason that says nothing of the address).
        verdict: the bounce verdict the word pins (one of BOUNCE_VERDICTS), if any.
        machine: an open the ESP itself attributes to a machine (Apple Mail Privacy Protection proxies).
        decided_by_subtype: a recognised subtype value decides the meaning, ``event`` is the meaning when
            none is. Bounces always are; so are the words for "the ESP did not send" and subscription changes.
    """

    event: str
    verdict: str | None = None
    machine: bool = False
    decided_by_subtype: bool = False

    def __post_init__(self) -> None:
        assert self.event in EVENT_TYPES and self.verdict in (None, *BOUNCE_VERDICTS), self


_SEND, _DELIVERED, _CLICK = Meaning("send"), Meaning("delivered"), Meaning("click")
_OPEN, _MACHINE_OPEN = Meaning("open"), Meaning("open", machine=True)
_BOUNCE, _HARD, _SOFT, _BLOCK = (Meaning("bounce", verdict) for verdict in (None, "hard", "soft", "block"))
_COMPLAINT, _UNSUBSCRIBE = Meaning("complaint"), Meaning("unsubscribe")
#: Known, and deliberately not counted.
_IGNORED = Meaning("unknown")
#: Not sent because the address is on the ESP's do-not-mail list, or a subscription change: suppressing
#: (the safe reading) unless a subtype column says why and the reason is not the address.
_SUPPRESSED = Meaning("unsubscribe", decided_by_subtype=True)
#: Not sent, usually for a reason that is not the address (a virus, a frequency cap): not counted unless
#: a subtype column says it was the address.
_SKIPPED = Meaning("unknown", decided_by_subtype=True)

#: Event names, ESP by ESP, as each ESP's documentation spells them (compared by vocabulary_key).
# fmt: off
EVENT_VOCABULARY: dict[str, dict[str, Meaning]] = {
    # The contract's own names and the spellings listkit has always read.
    "listkit": {
        "send": _SEND, "delivered": _DELIVERED, "open": _OPEN, "opens": _OPEN, "click": _CLICK,
        "clicks": _CLICK, "bounce": _BOUNCE, "hard_bounce": _HARD, "soft_bounce": _SOFT,
        "complaint": _COMPLAINT, "unsubscribe": _UNSUBSCRIBE, "requests": _SEND,
    },
    # Mailchimp Marketing: webhooks (mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/:
    # subscribe, unsubscribe, profile, upemail, cleaned, campaign) and the email activity and abuse
    # reports (mailchimp.com/developer/marketing/api/email-activity-reports/, .../abuse-reports/).
    "mailchimp": {
        "unsubscribe": _UNSUBSCRIBE, "cleaned": _HARD, "subscribe": _IGNORED, "profile": _IGNORED,
        "upemail": _IGNORED, "campaign": _IGNORED, "sent": _SEND, "open": _OPEN, "click": _CLICK,
        "bounce": _BOUNCE, "unsub": _UNSUBSCRIBE, "abuse": _COMPLAINT,
    },
    # Mailchimp Transactional (Mandrill) webhooks: mailchimp.com/developer/transactional/docs/webhooks/
    "mandrill": {
        "send": _SEND, "deferral": _IGNORED, "hard_bounce": _HARD, "soft_bounce": _SOFT, "open": _OPEN,
        "click": _CLICK, "spam": _COMPLAINT, "unsub": _UNSUBSCRIBE, "reject": _SUPPRESSED,
        # A sync event: the address was added to the rejection list, for the reason its subtype gives.
        "whitelist": _IGNORED, "blacklist": _SUPPRESSED,
    },
    # SendGrid Event Webhook: twilio.com/docs/sendgrid/for-developers/tracking-events/event ("blocked" is
    # the Email Activity feed's word for a bounce of type blocked).
    "sendgrid": {
        "processed": _SEND, "dropped": _SUPPRESSED, "delivered": _DELIVERED, "deferred": _IGNORED,
        "bounce": _BOUNCE, "blocked": _BLOCK, "open": _OPEN, "click": _CLICK, "spamreport": _COMPLAINT,
        "unsubscribe": _UNSUBSCRIBE, "group_unsubscribe": _UNSUBSCRIBE, "group_resubscribe": _IGNORED,
    },
    # Mailgun webhooks and Events API: documentation.mailgun.com/docs/mailgun/user-manual/events/
    # ("dropped" and "bounced" are the legacy webhooks' names).
    "mailgun": {
        "accepted": _SEND, "rejected": _SKIPPED, "delivered": _DELIVERED, "failed": _BOUNCE,
        "opened": _OPEN, "clicked": _CLICK, "unsubscribed": _UNSUBSCRIBE, "complained": _COMPLAINT,
        "dropped": _SUPPRESSED, "bounced": _BOUNCE,
    },
    # Amazon SES event publishing:
    # docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
    # ("Reject" is a message SES found a virus in; "Subscription" a change through list management).
    "ses": {
        "Send": _SEND, "Reject": _SKIPPED, "Bounce": _BOUNCE, "Complaint": _COMPLAINT,
        "Delivery": _DELIVERED, "Open": _OPEN, "Click": _CLICK, "DeliveryDelay": _IGNORED,
        "Subscription": _UNSUBSCRIBE, "Rendering Failure": _IGNORED,
    },
    # Postmark webhooks, RecordType: postmarkapp.com/developer/webhooks/webhooks-overview
    "postmark": {
        "Delivery": _DELIVERED, "Bounce": _BOUNCE, "SpamComplaint": _COMPLAINT, "Open": _OPEN,
        "Click": _CLICK, "SubscriptionChange": _SUPPRESSED,
    },
    # SparkPost events: developers.sparkpost.com/api/events/
    "sparkpost": {
        "injection": _SEND, "delivery": _DELIVERED, "bounce": _BOUNCE, "delay": _IGNORED,
        "policy_rejection": _SUPPRESSED, "out_of_band": _BOUNCE, "open": _OPEN, "initial_open": _OPEN,
        "amp_open": _OPEN, "amp_initial_open": _OPEN, "click": _CLICK, "amp_click": _CLICK,
        "spam_complaint": _COMPLAINT, "list_unsubscribe": _UNSUBSCRIBE, "link_unsubscribe": _UNSUBSCRIBE,
        "generation_failure": _IGNORED, "generation_rejection": _IGNORED,
    },
    # Mailjet event API: dev.mailjet.com/email/guides/webhooks/ ("sent" is accepted by the receiving server).
    "mailjet": {
        "sent": _DELIVERED, "open": _OPEN, "click": _CLICK, "bounce": _BOUNCE, "blocked": _SUPPRESSED,
        "spam": _COMPLAINT, "unsub": _UNSUBSCRIBE,
    },
    # Brevo webhooks: developers.brevo.com/docs/transactional-webhooks and .../marketing-webhooks ("blocked":
    # not sent because the contact is blocklisted; "invalid_email": the address does not exist).
    "brevo": {
        "request": _SEND, "sent": _SEND, "delivered": _DELIVERED, "hardBounce": _HARD,
        "softBounce": _SOFT, "blocked": _SUPPRESSED, "spam": _COMPLAINT, "complaint": _COMPLAINT,
        "invalid_email": _HARD, "invalid": _HARD, "deferred": _IGNORED, "opened": _OPEN,
        "uniqueOpened": _OPEN, "click": _CLICK, "unsubscribed": _UNSUBSCRIBE, "unsubscribe": _UNSUBSCRIBE,
        "loadedByProxy": _MACHINE_OPEN, "proxy_open": _MACHINE_OPEN, "unique_proxy_open": _MACHINE_OPEN,
        "error": _IGNORED, "listAddition": _IGNORED, "contactUpdated": _IGNORED, "contactDeleted": _IGNORED,
    },
    # Klaviyo metrics: help.klaviyo.com/hc/en-us/articles/115005082927 (email metrics) and the Events API
    # ("Dropped Email": not sent to a suppressed profile).
    "klaviyo": {
        "Received Email": _DELIVERED, "Opened Email": _OPEN, "Clicked Email": _CLICK,
        "Bounced Email": _BOUNCE, "Dropped Email": _SUPPRESSED, "Marked Email as Spam": _COMPLAINT,
        "Unsubscribed": _UNSUBSCRIBE, "Unsubscribed from Email Marketing": _UNSUBSCRIBE,
        "Unsubscribed from List": _UNSUBSCRIBE, "Subscribed to Email Marketing": _IGNORED,
        "Subscribed to List": _IGNORED,
    },
    # HubSpot Email Events API: developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/guide
    # ("SUPPRESSED": graymail suppression of unengaged contacts; "STATUSCHANGE": a subscription change).
    "hubspot": {
        "SENT": _SEND, "DROPPED": _SUPPRESSED, "PROCESSED": _SEND, "DELIVERED": _DELIVERED,
        "DEFERRED": _IGNORED, "BOUNCE": _BOUNCE, "OPEN": _OPEN, "CLICK": _CLICK,
        "STATUSCHANGE": _SUPPRESSED, "SPAMREPORT": _COMPLAINT, "SUPPRESSED": _SKIPPED,
    },
    # Braze Currents: braze.com/docs/user_guide/data/distribution/braze_currents/event_glossary/
    # (Bounce is a hard bounce, SoftBounce its own event).
    "braze": {
        "users.messages.email.Send": _SEND, "users.messages.email.Delivery": _DELIVERED,
        "users.messages.email.Open": _OPEN, "users.messages.email.Click": _CLICK,
        "users.messages.email.Bounce": _HARD, "users.messages.email.SoftBounce": _SOFT,
        "users.messages.email.MarkAsSpam": _COMPLAINT, "users.messages.email.Unsubscribe": _UNSUBSCRIBE,
        "users.messages.email.Deferral": _IGNORED, "users.messages.email.Abort": _IGNORED,
    },
    # Iterable system webhooks and export: support.iterable.com/hc/en-us/articles/208013936-System-Webhooks
    "iterable": {
        "emailSend": _SEND, "emailBounce": _BOUNCE, "emailOpen": _OPEN, "emailClick": _CLICK,
        "emailComplaint": _COMPLAINT, "emailUnSubscribe": _UNSUBSCRIBE, "emailSubscribe": _IGNORED,
        "emailSendSkip": _SKIPPED, "hostedUnsubscribeClick": _UNSUBSCRIBE,
    },
    # Customer.io reporting webhooks (metric) and semantic events: docs.customer.io/api/webhooks and
    # docs.customer.io/integrations/data-in/semantic-events/email/ ("failed": not sent, an error).
    "customer.io": {
        "sent": _SEND, "delivered": _DELIVERED, "opened": _OPEN, "clicked": _CLICK, "bounced": _BOUNCE,
        "spammed": _COMPLAINT, "unsubscribed": _UNSUBSCRIBE, "dropped": _SUPPRESSED, "failed": _IGNORED,
        "undeliverable": _SUPPRESSED, "converted": _IGNORED, "Email Sent": _SEND,
        "Email Delivered": _DELIVERED, "Email Opened": _OPEN, "Email Link Clicked": _CLICK,
        "Email Bounced": _BOUNCE, "Email Marked as Spam": _COMPLAINT, "Email Unsubscribed": _UNSUBSCRIBE,
        "Email Suppressed": _SUPPRESSED, "Email Failed": _IGNORED,
    },
    # listmonk bounce records (type hard, soft, complaint): listmonk.app/docs/bounces/ (an unsubscribe is
    # a subscription status there, in STATUS_VOCABULARY).
    "listmonk": {"hard": _HARD, "soft": _SOFT, "complaint": _COMPLAINT},
}
# fmt: on

#: Where two ESPs give one name (as compared) different meanings, the suppression-safe one, and why.
EVENT_NAME_CHOICES: dict[str, Meaning] = {
    # Brevo and Mailjet: the ESP refused to send to a blocklisted address; SendGrid's activity feed: the
    # receiver blocked the message. SendGrid's webhook reports its blocks as bounce/type=blocked, so the
    # name alone is Brevo's and Mailjet's, and mailing an address they blocklisted breaks the promise.
    "blocked": _SUPPRESSED,
    # Mailjet: accepted by the receiver (a delivery); everyone else: handed over to be sent. A Mailjet
    # log has no other delivery event, and listkit counts sends as deliveries when a log has none.
    "sent": _SEND,
    # Mailgun: delivery failed (a bounce); Customer.io: not sent, an error. Read as a bounce, whose
    # verdict then comes from the status code (soft without one).
    "failed": _BOUNCE,
    # Mandrill: refused by the rejection list (an earlier bounce, complaint or unsubscribe); SES: a virus.
    "reject": _SUPPRESSED,
}

# fmt: off
_MANDRILL_REJECT_REASONS = {
    "hard-bounce": _HARD, "soft-bounce": _SOFT, "spam": _COMPLAINT, "unsub": _UNSUBSCRIBE,
    "custom": _UNSUBSCRIBE, "invalid": _HARD, "invalid-sender": _IGNORED, "test-mode-limit": _IGNORED,
    "rule": _IGNORED,
}
# fmt: on

#: Subtype columns, ESP by ESP: header -> value -> meaning. They refine the rows whose name is a bounce, a
#: refusal or a subscription change (Meaning.decided_by_subtype), and may raise a complaint or unsubscribe
#: to a stronger one; they never touch sends, deliveries, opens or clicks. Headers and values are compared
#: by vocabulary_key; the column that holds the event name is never read as a subtype.
# fmt: off
SUBTYPE_VOCABULARY: dict[str, dict[str, dict[str, Meaning]]] = {
    # The canonical bounce_type column and the spellings listkit has always read there.
    "listkit": {
        "bounce_type": {
            "hard": _HARD, "soft": _SOFT, "block": _BLOCK, "permanent": _HARD, "transient": _SOFT,
            "temporary": _SOFT, "hard bounce": _HARD, "soft bounce": _SOFT, "blocked": _BLOCK,
        },
    },
    # Mailchimp: an activity's bounce type; a cleaned webhook's reason (hard, or abuse: a complaint).
    "mailchimp": {"type": {"hard": _HARD, "soft": _SOFT}, "reason": {"hard": _HARD, "abuse": _COMPLAINT}},
    # Mandrill: reject reasons (mailchimp.com/developer/transactional/docs/reject-allow-lists/) and
    # msg.bounce_description (mailchimp.com/developer/transactional/docs/webhooks/).
    "mandrill": {
        "reason": _MANDRILL_REJECT_REASONS,
        "reject.reason": _MANDRILL_REJECT_REASONS,
        "bounce_description": {
            "bad_mailbox": _HARD, "invalid_domain": _HARD, "mailbox_full": _SOFT, "spam_related": _BLOCK,
            "policy_related": _BLOCK, "no_mx": _HARD,
        },
    },
    # SendGrid: bounce type and bounce_classification, and the reason of a drop (event webhook page).
    "sendgrid": {
        "type": {"bounce": _HARD, "blocked": _BLOCK, "expired": _SOFT},
        "bounce_classification": {
            "Invalid Address": _HARD, "Technical": _SOFT, "Content": _BLOCK, "Reputation": _BLOCK,
            "Frequency or Volume": _SOFT, "Mailbox Unavailable": _SOFT,
        },
        "reason": {
            "Bounced Address": _HARD, "Unsubscribed Address": _UNSUBSCRIBE,
            "Spam Reporting Address": _COMPLAINT, "Invalid": _HARD, "Invalid SMTPAPI header": _IGNORED,
            "Spam Content": _IGNORED, "Recipient List over Package Quota": _IGNORED,
        },
    },
    # Mailgun: severity of a failure, and its reason (suppress-*: the address is on a suppression list).
    "mailgun": {
        "severity": {"permanent": _HARD, "temporary": _SOFT},
        "reason": {
            "suppress-bounce": _HARD, "suppress-unsubscribe": _UNSUBSCRIBE, "suppress-complaint": _COMPLAINT,
            "hardfail": _HARD, "old": _SOFT, "espblock": _BLOCK,
        },
    },
    # SES: bounceType and bounceSubType (docs.aws.amazon.com/ses/latest/dg/notification-contents.html);
    # Undetermined and General say nothing, so the status code decides. A Reject's reason is a virus.
    "ses": {
        "bounceType": {"Permanent": _HARD, "Transient": _SOFT},
        "bounceSubType": {
            "NoEmail": _HARD, "Suppressed": _HARD, "OnAccountSuppressionList": _HARD, "MailboxFull": _SOFT,
            "MessageTooLarge": _SOFT, "ContentRejected": _BLOCK, "AttachmentRejected": _BLOCK,
        },
        "reason": {"Bad content": _IGNORED},
    },
    # Postmark: bounce Type (postmarkapp.com/developer/api/bounce-api#bounce-types), and a
    # SubscriptionChange's SuppressionReason and SuppressSending (false: the address was reactivated).
    "postmark": {
        "Type": {
            "HardBounce": _HARD, "SoftBounce": _SOFT, "Transient": _SOFT, "DnsError": _SOFT,
            "BadEmailAddress": _HARD, "Blocked": _BLOCK, "DMARCPolicy": _BLOCK, "VirusNotification": _BLOCK,
            "SpamNotification": _COMPLAINT, "SpamComplaint": _COMPLAINT, "Unsubscribe": _UNSUBSCRIBE,
            "ManuallyDeactivated": _UNSUBSCRIBE, "Subscribe": _IGNORED, "AutoResponder": _IGNORED,
            "AddressChange": _IGNORED, "ChallengeVerification": _IGNORED, "OpenRelayTest": _IGNORED,
            "Unconfirmed": _IGNORED, "SMTPApiError": _IGNORED, "TemplateRenderingFailed": _IGNORED,
        },
        "SuppressionReason": {
            "HardBounce": _HARD, "SpamComplaint": _COMPLAINT, "ManualSuppression": _UNSUBSCRIBE,
        },
        "SuppressSending": {"false": _IGNORED},
    },
    # SparkPost bounce classes: support.sparkpost.com/docs/deliverability/bounce-classification-codes
    # (1 undetermined and 25 admin failure, which covers SparkPost's own suppression list, say nothing).
    "sparkpost": {
        "bounce_class": {
            "10": _HARD, "20": _SOFT, "21": _SOFT, "22": _SOFT, "23": _SOFT, "24": _SOFT, "30": _HARD,
            "40": _SOFT, "50": _BLOCK, "51": _BLOCK, "52": _BLOCK, "53": _BLOCK, "54": _BLOCK,
            "60": _IGNORED, "70": _SOFT, "80": _IGNORED, "90": _UNSUBSCRIBE, "100": _IGNORED,
        },
    },
    # Mailjet: hard_bounce and error (dev.mailjet.com/email/guides/webhooks/; preblocked: an earlier hard
    # bounce or spam complaint; blacklisted: on the exclusion list).
    "mailjet": {
        "hard_bounce": {"true": _HARD, "false": _SOFT},
        "error": {
            "user unknown": _HARD, "mailbox inactive": _HARD, "quota exceeded": _SOFT,
            "invalid domain": _HARD, "no mail host": _HARD, "relay/access denied": _BLOCK,
            "greylisted": _SOFT, "typofix": _HARD, "blacklisted": _UNSUBSCRIBE,
            "spam reporter": _COMPLAINT, "preblocked": _HARD, "sender blocked": _BLOCK,
            "content blocked": _BLOCK, "policy issue": _BLOCK, "duplicate in campaign": _IGNORED,
        },
    },
    # HubSpot: a BOUNCE's category, a DROPPED's dropReason, a STATUSCHANGE's portalSubscriptionStatus
    # (Email Events API guide; drop reasons as in HubSpot's SendResult enumeration).
    "hubspot": {
        "category": {
            "UNKNOWN_USER": _HARD, "MAILBOX_FULL": _SOFT, "CONTENT": _BLOCK, "SPAM": _BLOCK,
            "POLICY": _BLOCK, "GREYLISTING": _SOFT, "MAILBOX_MISCONFIGURATION": _SOFT,
            "ISP_MISCONFIGURATION": _SOFT, "DOMAIN_REPUTATION": _BLOCK, "DMARC": _BLOCK,
            "SENDING_DOMAIN_MISCONFIGURATION": _BLOCK, "TIMEOUT": _SOFT, "THROTTLED": _SOFT,
            "IP_REPUTATION": _BLOCK, "DNS_FAILURE": _SOFT, "TEMPORARY_PROBLEM": _SOFT,
        },
        "dropReason": {
            "PREVIOUSLY_BOUNCED": _HARD, "PREVIOUS_SPAM": _COMPLAINT,
            "PREVIOUSLY_UNSUBSCRIBED_MESSAGE": _UNSUBSCRIBE, "PREVIOUSLY_UNSUBSCRIBED_PORTAL": _UNSUBSCRIBE,
            "PREVIOUSLY_UNSUBSCRIBED_BRAND": _UNSUBSCRIBE,
            "PREVIOUSLY_UNSUBSCRIBED_BUSINESS_UNIT": _UNSUBSCRIBE, "BLOCKED_ADDRESS": _UNSUBSCRIBE,
            "INVALID_TO_ADDRESS": _HARD, "UNDELIVERABLE": _HARD, "QUARANTINED_ADDRESS": _HARD,
            "GRAYMAIL_SUPPRESSED": _IGNORED, "RECIPIENT_FATIGUE_SUPPRESSED": _IGNORED,
            "MTA_IGNORE": _IGNORED, "CAMPAIGN_CANCELLED": _IGNORED, "PORTAL_SUSPENDED": _IGNORED,
            "PORTAL_OVER_LIMIT": _IGNORED, "INVALID_FROM_ADDRESS": _IGNORED, "THROTTLED": _IGNORED,
            "NON_MARKETABLE_CONTACT": _IGNORED, "EMAIL_UNCONFIRMED": _IGNORED,
            "TEMPLATE_RENDER_EXCEPTION": _IGNORED, "MISSING_CONTENT": _IGNORED,
            "VALIDATION_FAILED": _IGNORED, "UNCONFIGURED_SENDING_DOMAIN": _IGNORED,
        },
        "portalSubscriptionStatus": {"UNSUBSCRIBED": _UNSUBSCRIBE, "SUBSCRIBED": _IGNORED},
    },
    # listmonk: a bounce record's type.
    "listmonk": {"type": {"hard": _HARD, "soft": _SOFT, "complaint": _COMPLAINT}},
}
# fmt: on

#: Subscriber statuses that forbid mailing, ESP by ESP: status -> the reason code it gives
#: (compared by vocabulary_key; anything else forbids nothing).
# fmt: off
STATUS_VOCABULARY: dict[str, dict[str, str]] = {
    # The contract's four, and common spellings of the same.
    "listkit": {
        "unsubscribed": "unsubscribed", "unsubscribe": "unsubscribed", "unsub": "unsubscribed",
        "opted out": "unsubscribed", "opt-out": "unsubscribed", "suppressed": "unsubscribed",
        "complained": "complaint", "complaint": "complaint", "spam": "complaint",
        "spam complaint": "complaint", "spam report": "complaint", "marked as spam": "complaint",
        "abuse": "complaint", "cleaned": "hard_bounce", "bounced": "hard_bounce", "bounce": "hard_bounce",
        "hard bounced": "hard_bounce", "hard bounce": "hard_bounce", "undeliverable": "hard_bounce",
    },
    # Mailchimp member status: mailchimp.com/developer/marketing/api/list-members/ (cleaned: bounced).
    "mailchimp": {"unsubscribed": "unsubscribed", "cleaned": "hard_bounce"},
    # Klaviyo email consent and suppression reasons: developers.klaviyo.com/en/reference/get_profiles
    "klaviyo": {
        "UNSUBSCRIBED": "unsubscribed", "USER_SUPPRESSED": "unsubscribed", "HARD_BOUNCE": "hard_bounce",
        "INVALID_EMAIL": "hard_bounce", "SPAM_COMPLAINT": "complaint",
    },
    # HubSpot subscription status (NOT_SUBSCRIBED: opted out) and list-member states:
    # developers.hubspot.com/docs/api-reference/communication-preferences
    "hubspot": {
        "NOT_SUBSCRIBED": "unsubscribed", "Unsubscribed from all email": "unsubscribed",
        "Opted out": "unsubscribed", "Bounced": "hard_bounce", "Marked as spam": "complaint",
    },
    # Brevo contact status (developers.brevo.com/docs/marketing-webhooks): blocklisted, formerly blacklisted.
    "brevo": {
        "blocklisted": "unsubscribed", "blacklisted": "unsubscribed", "hardBounce": "hard_bounce",
        "hard_bounce": "hard_bounce", "spam": "complaint",
    },
    # listmonk subscriber status (blocklisted) and subscription status: listmonk.app/docs/concepts/
    "listmonk": {"blocklisted": "unsubscribed", "unsubscribed": "unsubscribed"},
}
# fmt: on


def vocabulary_key(text: pl.Expr) -> pl.Expr:
    """``text`` as vocabulary words are compared: lower-cased, without whitespace, ``_ - .`` or
    invisible characters (Unicode format characters: zero-width spaces and joiners, BOMs, soft hyphens,
    word joiners, bidi marks). A whole number written as a float (``10.0``, as pandas writes an integer
    column with gaps) is that number. Elementwise, so it streams."""
    whole = text.str.replace(r"^\s*(\d+)\.0*\s*$", "${1}")
    return whole.str.replace_all(r"[\p{Cf}\s_.\-]", "").str.to_lowercase()


def vocabulary_keys(texts: Iterable[str]) -> list[str]:
    """The :func:`vocabulary_key` of each of a few strings (headers, table entries, one name)."""
    frame = pl.DataFrame({"text": list(texts)}, schema={"text": pl.String})
    return frame.select(vocabulary_key(pl.col("text")))["text"].to_list()


def _merge(tables: Mapping[str, Mapping[str, object]], choices: Mapping[str, object], what: str) -> dict:
    """One lookup from per-ESP tables, keyed by vocabulary_key; two meanings of one key need a choice."""
    merged: dict[str, object] = {}
    for esp, table in tables.items():
        for key, meaning in zip(vocabulary_keys(table), table.values(), strict=True):
            if merged.setdefault(key, meaning) != meaning and key not in choices:
                raise AssertionError(f"{what} {key!r} of {esp} means two things; record the choice")
    return merged | {key: choices[key] for key in choices}


#: The lookups the readers derive from the vocabularies, keyed by vocabulary_key.
EVENT_MEANINGS: dict[str, Meaning] = _merge(EVENT_VOCABULARY, EVENT_NAME_CHOICES, "event name")
SUBTYPE_MEANINGS: dict[str, dict[str, Meaning]] = {}
for _esp, _columns in SUBTYPE_VOCABULARY.items():
    for _header, _values in zip(vocabulary_keys(_columns), _columns.values(), strict=True):
        _known = SUBTYPE_MEANINGS.setdefault(_header, {})
        _known.update(_merge({"": _known, _esp: _values}, {}, f"{_header} value"))
STATUS_CAUSES: dict[str, str] = _merge(STATUS_VOCABULARY, {}, "status")

#: Words in an unknown event name that suggest it means "do not mail" (compared by vocabulary_key).
SUPPRESSING_WORDS = re.compile(
    r"unsub|opt(ed)?out|spam|complain|abuse|junk|feedbackloop|fbl|bounce|block|blacklist|denylist"
    r"|suppress|drop|reject|fail|undeliver|invalid"
)


def looks_suppressing(name: str) -> bool:
    """True for an event name the vocabulary does not know that mentions unsubscribing, opting out, spam,
    a complaint or abuse, a bounce, a block or blocklist, a suppression, a drop, a rejection, a failure or
    an invalid or undeliverable address: it may mean "do not mail", so it deserves a warning. Known
    names are False whatever they say: their meaning is decided in EVENT_VOCABULARY."""
    (key,) = vocabulary_keys([name])
    return key not in EVENT_MEANINGS and SUPPRESSING_WORDS.search(key) is not None


def status_cause(status: pl.Expr) -> pl.Expr:
    """``unsubscribed``, ``complaint`` or ``hard_bounce`` where a subscriber status (any ESP's spelling in
    STATUS_VOCABULARY, compared by vocabulary_key) forbids mailing, else null. Elementwise, so it streams."""
    key = vocabulary_key(status)
    cause = pl.lit(None, dtype=pl.String)
    for reason in sorted(set(STATUS_CAUSES.values())):
        statuses = [status for status, given in STATUS_CAUSES.items() if given == reason]
        cause = pl.when(key.is_in(statuses)).then(pl.lit(reason)).otherwise(cause)
    return cause
