"""Import presets: segment and suppression rows in the exact shape each sending tool imports.

listkit's segments (``email``, ``first_name``, ``last_name``, ``signup_at``, ``source``, ``segment``,
``score``, then the analyst's pass-through columns) and its suppression list are turned into
:class:`ImportTable` frames whose headers and cell values the tool reads without manual mapping.
Every preset is a declarative record (:class:`SegmentPreset`, :class:`SuppressionPreset`) in
:data:`SEGMENT_PRESETS` and :data:`SUPPRESSION_PRESETS`, holding the documentation page(s) it
follows; the facts taken from each page are in the record's comments. Nothing here writes a file:
:mod:`listkit.export` writes the frames (formula guard, UTF-8, comma-separated).

Choices the documentation leaves open, made the safe way:

* The segment travels in a field the tool imports per row (Mailchimp: a tag; the others: a custom
  field or attribute, or a key of the member's JSON data), because the list an upload goes into is
  chosen once per upload, not per row.
* A pass-through column is renamed only where the tool forbids its name, or where it would clash
  with a header the preset writes or with a field the tool fills itself or identifies contacts by
  (an address column, SendGrid's ``created_at``). A column named like one of the tool's standard
  fields (Mailchimp's ``Phone Number`` and ``Address`` in its own export, SendGrid's ``city``,
  Klaviyo's ``Zip Code``) keeps its name and so maps straight into that field, as the analyst
  expects of a re-import. Renaming is deterministic: the tool's spelling, then `` 2``, ``_2``,
  ``_3``... until the name is free, compared case-insensitively where the tool compares so. A
  Mailchimp ``TAGS`` column (Mailchimp's export) is not renamed but merged: the segment tag is
  added to its tags.
* Scores are numbers with one decimal (what the writer writes elsewhere); dates are formatted as
  the tool reads them; an unknown value is an empty cell (or JSON ``null``).
* A documented cap on the rows of one file (SES: 100,000 suppressed addresses per file) becomes the
  table's ``max_rows``: the writer splits the file into parts no larger.
* Suppression files hold only valid addresses, one row per address per file, in the input order;
  a reason code a tool has no word for (``no_mx`` one day) is handled as a bounce, the most
  suppressing reading every tool has.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import polars as pl

from listkit.addresses import ascii_addresses, check_addresses
from listkit.cells import named, shown
from listkit.csvfiles import TIMESTAMP_FORMAT
from listkit.errors import ConfigError, MissingColumnError
from listkit.reasons import REASON_CODES

__all__ = [
    "SEGMENT_FIELDS",
    "SEGMENT_PRESETS",
    "SUPPRESSION_PRESETS",
    "Column",
    "ImportTable",
    "NameRule",
    "SegmentPreset",
    "SuppressionFile",
    "SuppressionPreset",
    "check_preset",
    "segment_table",
    "suppression_tables",
]

#: The columns of a segment frame before its pass-through columns (``RunResult.segments``).
SEGMENT_FIELDS = ("email", "first_name", "last_name", "signup_at", "source", "segment", "score")

# The suppression reasons the tools have a word for; any other code is read as a bounce.
_UNSUBSCRIBED, _COMPLAINT, _HARD_BOUNCE = "unsubscribed", "complaint", "hard_bounce"
_KNOWN_REASONS = (_UNSUBSCRIBED, _COMPLAINT, _HARD_BOUNCE)
if not set(_KNOWN_REASONS) <= set(REASON_CODES):  # a renamed code must not silently become a bounce
    raise ImportError(f"listkit.presets names reason codes the registry lacks: {_KNOWN_REASONS}")

_ISO_UTC = TIMESTAMP_FORMAT  # the writer's timestamp format, for JSON values
#: The prefix of listkit's Mailchimp tags: a tag of an earlier run is recognised, and replaced.
TAG_PREFIX = "listkit-"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # a header with a line break breaks every importer


@dataclass(frozen=True)
class ImportTable:
    """One file's worth of rows in a tool's import shape."""

    kind: str  # "" for a preset's single file, else e.g. "bounces", "complaints", "unsubscribes"
    frame: pl.DataFrame  # final headers and cell values exactly as the tool reads them
    address_column: str  # header of the address column (the writer exempts valid addresses there
    # from its spreadsheet-formula guard)
    header: bool = True  # False where the tool's file must have no header line
    max_rows: int | None = None  # the tool's documented cap on the rows of one file (the writer splits)
    bom: bool = True  # False for files a program reads (an API import), which --excel leaves without a BOM


@dataclass(frozen=True)
class NameRule:
    """How a tool spells the names of custom fields, and which names it keeps for itself.

    A name is trimmed (control characters become spaces); ``drop_leading`` characters are removed
    from its start; with ``ascii_only`` accents are dropped (``Ünïcode`` is ``Unicode``) and other
    non-ASCII characters count as forbidden; ``upper`` upper-cases it; each run of ``forbidden``
    characters (a regex character class) becomes one ``_``, and ``_`` at either end is removed; an
    empty result is ``fallback``; a name whose first character does not match ``first`` gets
    ``lead`` in front. ``casefold``: the tool compares names case-insensitively. ``reserved``: names
    never given to a pass-through column (fields the tool fills itself or identifies contacts by).
    ``separator`` goes between a name and its counter when two names would collide.
    """

    forbidden: str | None = None
    ascii_only: bool = False
    upper: bool = False
    drop_leading: str = ""
    first: str | None = None
    lead: str = ""
    fallback: str = "field"
    separator: str = " "
    casefold: bool = True
    reserved: tuple[str, ...] = ()
    max_length: int | None = None

    def spell(self, name: str) -> str:
        """``name`` as the tool allows it (before collisions are resolved)."""
        text = _CONTROL.sub(" ", name).strip().lstrip(self.drop_leading).strip()
        if self.ascii_only:
            decomposed = unicodedata.normalize("NFKD", text)
            text = "".join(c for c in decomposed if not unicodedata.combining(c))
            text = "".join(c if c.isascii() else "_" for c in text)
        if self.upper:
            text = text.upper()
        if self.forbidden is not None:
            text = re.sub(self.forbidden + "+", "_", text).strip("_")
        text = text or self.fallback
        if self.first is not None and not re.match(self.first, text):
            text = self.lead + text
        return text[: self.max_length]

    def key(self, name: str) -> str:
        """What the tool compares when it decides whether two names are the same field."""
        return name.casefold() if self.casefold else name

    def unique(self, names: Iterable[str], taken: Iterable[str]) -> list[str]:
        """Spell each of ``names`` so that none equals another or any of ``taken``.

        A name the tool allows as it is keeps it first; the others then take their spelling, or
        that spelling and a counter, in input order (so ``segment`` respelt never takes the name of a
        column called ``segment_input``).
        """
        names = list(names)
        used = {self.key(name) for name in (*self.reserved, *taken)}
        out: list[str | None] = [None] * len(names)
        for index, name in enumerate(names):
            if self.spell(name) == name and self.key(name) not in used:
                used.add(self.key(name))
                out[index] = name
        for index, name in enumerate(names):
            if out[index] is not None:
                continue
            base = candidate = self.spell(name)
            counter = 2
            while self.key(candidate) in used:
                suffix = f"{self.separator}{counter}"
                candidate = (base[: self.max_length - len(suffix)] if self.max_length else base) + suffix
                counter += 1
            used.add(self.key(candidate))
            out[index] = candidate
        return [name for name in out if name is not None]


@dataclass(frozen=True)
class SegmentPreset:
    """How one tool's contact import reads a segment file.

    ``address`` is the header of the address column (``None``: the segment frame as it is). Then
    come, in this order: ``full_name`` (first and last name joined by a space), ``columns`` (listkit
    field, header), ``constants`` (header, value on every row), ``tags`` (a tag column carrying the
    segment), ``bag`` (a JSON object column holding ``bag_fields`` (listkit field, key) and the
    pass-through columns), and, without a bag, the pass-through columns as columns. Dates in columns
    follow ``date_format`` (strftime); dates in the bag are ISO 8601 UTC. ``names`` spells the
    pass-through names (column headers, or keys of the bag). ``segment_note`` says how the segment
    is carried and why; ``limits`` the tool's documented caps on one file, ``max_rows`` the cap on
    its rows, if it has one. ``bom``: an Excel byte-order mark is welcome (an upload page that takes
    files saved by Excel), not for a file an API reads. ``ascii_domains``: the tool takes only ASCII
    addresses (no SMTPUTF8), so an internationalised domain is written in Punycode.
    """

    tool: str
    docs: tuple[str, ...]
    address: str | None
    columns: tuple[tuple[str, str], ...] = ()
    date_format: str | None = None
    full_name: str | None = None
    constants: tuple[tuple[str, str], ...] = ()
    tags: str | None = None
    bag: str | None = None
    bag_fields: tuple[tuple[str, str], ...] = ()
    names: NameRule = NameRule()
    segment_note: str = ""
    limits: str = ""
    max_rows: int | None = None
    bom: bool = True
    ascii_domains: bool = False

    def headers(self) -> tuple[str, ...]:
        """The headers the preset writes itself (pass-through columns excluded)."""
        written = (
            self.address,
            self.full_name,
            *(header for _, header in self.columns),
            *(header for header, _ in self.constants),
            self.tags,
            self.bag,
        )
        return tuple(header for header in written if header is not None)


@dataclass(frozen=True)
class Column:
    """One column of a suppression file: its header and where its cells come from.

    ``value`` is a column of the suppression frame or one of the derived values: ``smtp_code``
    (the bounce's three-digit SMTP reply code, else ``550``), ``smtp_error`` (the bounce's status
    text, else its reason code, else the row's reasons), ``ses_reason`` (``BOUNCE`` or
    ``COMPLAINT``, see :data:`SUPPRESSION_PRESETS`). A date column is formatted with
    ``date_format`` (strftime; ``None`` keeps the Datetime for the writer). ``constant`` is written
    on every row instead.
    """

    header: str
    value: str = ""
    date_format: str | None = None
    constant: str | None = None


@dataclass(frozen=True)
class SuppressionFile:
    """One file of a suppression preset: which rows (``all``, or those whose reasons make them a
    ``bounce`` (a hard bounce or an unknown code), ``complaint`` or ``unsubscribe``) and columns."""

    kind: str
    rows: Literal["all", "bounce", "complaint", "unsubscribe"]
    columns: tuple[Column, ...]
    header: bool = True


@dataclass(frozen=True)
class SuppressionPreset:
    """How one tool imports addresses it must never mail (valid addresses only, in every preset).

    ``bom`` and ``ascii_domains`` as for :class:`SegmentPreset`; with ``ascii_domains`` an address
    whose local part is not ASCII is left out, as the tool can never send to it.
    """

    tool: str
    docs: tuple[str, ...]
    files: tuple[SuppressionFile, ...]
    limits: str = ""
    max_rows: int | None = None
    bom: bool = True
    ascii_domains: bool = False


# Mailchimp compares field labels case-insensitively in our reading. Its standard fields (Address, Phone
# Number, Birthday, Company) keep their names: its own export writes them so, in its own formats.
_MAILCHIMP_NAMES = NameRule(reserved=("Email Address", "Email", "Tags"))
# SendGrid: "alphanumeric characters (A-Z and 0-9) and underscores", beginning "with letters A-Z or
# underscores", at most 100 characters (Twilio error 19044); names "must be case-insensitively unique"
# and cannot "collide with any Reserved Field":
# a column named like a reserved field it may import (city, country, phone_number...) maps into it; the
# identifiers and the fields SendGrid populates itself are never written from a pass-through column.
_SENDGRID_NAMES = NameRule(
    forbidden=r"[^A-Za-z0-9_]", ascii_only=True, first=r"[A-Za-z_]", lead="_", separator="_", max_length=100,
    reserved=(
        "email", "alternate_emails", "unique_name", "external_id", "anonymous_id", "phone_number_id",
        "lists", "created_at", "updated_at", "last_emailed", "last_clicked", "last_opened",
    ),
)  # fmt: skip
# Klaviyo: "$" names are its special properties; the rest is free text. A column named like one of its
# profile properties (as its CSV upload names them: Zip Code, City, Organization...) maps into it; only
# the address headers are never a pass-through column's.
_KLAVIYO_NAMES = NameRule(drop_leading="$", reserved=("Email", "Email Address"))
# Brevo: attribute names are upper case ("passed in capital letter"), letters, digits and "_"; the
# identifiers other than the address (SMS, WHATSAPP...) are attributes a column may fill; EMAIL may not.
_BREVO_NAMES = NameRule(
    forbidden=r"[^A-Z0-9_]", ascii_only=True, upper=True, first=r"[A-Z]", lead="ATTR_", fallback="FIELD",
    separator="_",
    reserved=("EMAIL",),
)  # fmt: skip
# Keys of a JSON object (Mailgun's member vars, SES's attributesData): any text, compared exactly.
_JSON_KEYS = NameRule(separator="_", casefold=False)
# The listkit fields as JSON keys, for the tools that take a JSON object of contact data.
_BAG_FIELDS = tuple((name, name) for name in SEGMENT_FIELDS if name != "email")

SEGMENT_PRESETS: Mapping[str, SegmentPreset] = MappingProxyType({
    # Today's segment files, unchanged (the writer formats datetimes as YYYY-MM-DDTHH:MM:SSZ).
    "generic": SegmentPreset(tool="listkit", docs=(), address=None, segment_note="the segment column"),
    # "The only field Mailchimp requires is email address"; columns are matched to audience fields by
    # label ("Email Address", "First Name", "Last Name" are the default fields); text fields hold 255
    # bytes; date fields read the ISO format YYYY-MM-DD (a date field has no time of day, so the sign-up
    # time is kept to its UTC date); numbers without separators. Tags: a comma
    # separates tags and a tag holding a comma is wrapped in double quotes (Mailchimp's own export
    # writes the TAGS column as "tag one","tag two"), so the segment is added as one quoted tag, named
    # listkit-<segment>; an exported TAGS column keeps its tags but those of earlier listkit runs. An import
    # only ever adds tags: remove the old listkit-* tags in Mailchimp before importing a new run.
    "mailchimp": SegmentPreset(
        tool="Mailchimp",
        docs=("https://mailchimp.com/help/format-guidelines-for-your-import-file/",),
        address="Email Address",
        columns=(
            ("first_name", "First Name"), ("last_name", "Last Name"), ("signup_at", "Listkit Signup Date"),
            ("source", "Listkit Source"), ("score", "Listkit Score"),
        ),
        date_format="%Y-%m-%d",
        tags="Tags",
        names=_MAILCHIMP_NAMES,
        segment_note="a tag listkit-<segment> in Tags: Mailchimp imports tags per row and segments on "
        "them; an exported TAGS column keeps its tags (but earlier listkit-* ones) and gains the segment's",
        limits="CSV or TXT; text fields are clipped at 255 bytes",
    ),
    # Marketing Campaigns CSV upload: the header row is required and "one of the CSV headers must be
    # email" (first column); headers "only use letters, numbers, and underscores"; reserved fields
    # first_name, last_name...; dates "MM/DD/YYYY"; numbers as plain decimals (no currency sign, at
    # most two decimals); up to 1M contacts or 5GB per upload.
    "sendgrid": SegmentPreset(
        tool="SendGrid Marketing Campaigns",
        docs=(
            "https://www.twilio.com/docs/sendgrid/ui/managing-contacts/formatting-a-csv",
            "https://www.twilio.com/docs/sendgrid/ui/managing-contacts/custom-fields",
            "https://www.twilio.com/docs/sendgrid/api-reference/custom-fields/create-custom-field-definition",
            "https://www.twilio.com/docs/sendgrid/api-reference/contacts/import-contacts",
        ),
        address="email",
        columns=(
            ("first_name", "first_name"), ("last_name", "last_name"), ("signup_at", "listkit_signup_date"),
            ("source", "listkit_source"), ("segment", "listkit_segment"), ("score", "listkit_score"),
        ),
        date_format="%m/%d/%Y",
        names=_SENDGRID_NAMES,
        segment_note="the custom text field listkit_segment: the list is chosen once per upload, and "
        "segments can be built on a custom field",
        limits="1,000,000 contacts or 5 GB per upload; 500 custom fields",
        max_rows=1_000_000,
    ),
    # List upload: the first column's header is "Email" (or "Email Address"/"Phone Number"); Klaviyo
    # property names ("First Name", "Last Name") map automatically, other headers become custom
    # properties; timestamps as "2014-09-30 13:34:08+00:00" (a date alone would be midnight UTC);
    # 50 MB per file.
    "klaviyo": SegmentPreset(
        tool="Klaviyo",
        docs=(
            "https://help.klaviyo.com/hc/en-us/articles/115005078967",
            "https://help.klaviyo.com/hc/en-us/articles/360039859932",
            "https://help.klaviyo.com/hc/en-us/articles/360053679071",
        ),
        address="Email",
        columns=(
            ("first_name", "First Name"), ("last_name", "Last Name"), ("signup_at", "listkit_signup_at"),
            ("source", "listkit_source"), ("segment", "listkit_segment"), ("score", "listkit_score"),
        ),
        date_format="%Y-%m-%d %H:%M:%S+00:00",
        names=_KLAVIYO_NAMES,
        segment_note="the custom property listkit_segment: uploads go to one list, and segments can be "
        "built on a profile property",
        limits="50 MB per file",
    ),
    # Contact import: headers are attribute names (EMAIL, FIRSTNAME, LASTNAME are defaults); separator
    # ";", "," or tab; UTF-8; 250 MB per file; new attributes can be created at the mapping step (the
    # API import ignores attributes the account lacks). Dates as YYYY-MM-DD (Brevo's API date form;
    # see tests/fixtures/imports/README.md on what is uncertain).
    "brevo": SegmentPreset(
        tool="Brevo",
        docs=(
            "https://help.brevo.com/hc/en-us/articles/208729849",
            "https://developers.brevo.com/reference/create-contact",
            "https://developers.brevo.com/reference/importcontacts-1",
        ),
        address="EMAIL",
        columns=(
            ("first_name", "FIRSTNAME"), ("last_name", "LASTNAME"), ("signup_at", "LISTKIT_SIGNUP_DATE"),
            ("source", "LISTKIT_SOURCE"), ("segment", "LISTKIT_SEGMENT"), ("score", "LISTKIT_SCORE"),
        ),
        date_format="%Y-%m-%d",
        names=_BREVO_NAMES,
        segment_note="the attribute LISTKIT_SEGMENT: the list is chosen once per import, and segments can "
        "filter on an attribute",
        limits="250 MB per file",
    ),
    # Mailing-list member upload (POST /v3/lists/{list}/members.csv, up to 1,000 members a call, with
    # the form fields subscribed and upsert): a member is address, name and vars ("JSON-encoded
    # dictionary string with arbitrary parameters", used as %recipient.KEY% in messages).
    "mailgun": SegmentPreset(
        tool="Mailgun mailing lists",
        docs=(
            "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/mailing-lists/"
            "post-lists-list_address-members.csv",
            "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/mailing-lists/"
            "post-lists-string:list_address-members",
        ),
        address="address",
        full_name="name",
        bag="vars",
        bag_fields=_BAG_FIELDS,
        names=_JSON_KEYS,
        segment_note="the key segment in the member's vars: one list per upload, and vars are what "
        "Mailgun keeps per member",
        limits="1,000 members per members.csv call",
        max_rows=1_000,
        bom=False,
    ),
    # Contact list bulk import (CreateImportJob, ContactListDestination): the first line is a header;
    # columns emailAddress, unsubscribeAll, attributesData (a JSON object) and one
    # topicPreferences.<Topic> column per topic. Topics are defined on the contact list, so none is
    # written: contacts get each topic's default subscription status.
    "ses-contacts": SegmentPreset(
        tool="Amazon SES contact lists",
        docs=(
            "https://docs.aws.amazon.com/ses/latest/dg/sending-email-list-management.html",
            "https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateImportJob.html",
        ),
        address="emailAddress",
        constants=(("unsubscribeAll", "false"),),
        bag="attributesData",
        bag_fields=_BAG_FIELDS,
        names=_JSON_KEYS,
        segment_note="the key segment in attributesData: topics must be defined on the contact list "
        "first (20 at most), attributes need nothing",
        limits="1,000,000 contacts per import job",
        max_rows=1_000_000,
        bom=False,
        ascii_domains=True,
    ),
})  # fmt: skip

_EMAIL = Column("email", "email")
_RFC2822 = "%a, %d %b %Y %H:%M:%S +0000"  # Mailgun's date format: 'Thu, 13 Oct 2011 18:02:00 +0000'

SUPPRESSION_PRESETS: Mapping[str, SuppressionPreset] = MappingProxyType({
    # Today's suppression list, with the earliest date (the writer formats it).
    "generic": SuppressionPreset(
        tool="listkit", docs=(),
        files=(SuppressionFile("", "all", (
            _EMAIL, Column("reason", "reason"), Column("suppressed_at", "suppressed_at"))),),
    ),
    # Per-domain lists. Bounces: the file "must contain the following column headers: address, code,
    # error, created_at" (code defaults to 550, error to "", created_at, RFC 2822, to now). Complaints:
    # address, created_at. Unsubscribes: address, tags ("*" unsubscribes from all the domain's mail),
    # created_at. 25 MB per file. Unknown dates are left empty for Mailgun's default.
    "mailgun": SuppressionPreset(
        tool="Mailgun suppressions",
        docs=(
            "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/bounces/"
            "post-v3--domainid--bounces-import",
            "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/complaints/"
            "post-v3--domainid--complaints-import",
            "https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/unsubscribe/"
            "post-v3--domainid--unsubscribes-import",
            "https://documentation.mailgun.com/en/latest/api-intro.html#date-format",
        ),
        files=(
            SuppressionFile("bounces", "bounce", (
                Column("address", "email"), Column("code", "smtp_code"), Column("error", "smtp_error"),
                Column("created_at", "hard_bounce_at", _RFC2822))),
            SuppressionFile("complaints", "complaint", (
                Column("address", "email"), Column("created_at", "complaint_at", _RFC2822))),
            SuppressionFile("unsubscribes", "unsubscribe", (
                Column("address", "email"), Column("tags", constant="*"),
                Column("created_at", "unsubscribed_at", _RFC2822))),
        ),
        limits="25 MB per file",
        bom=False,
    ),
    # Account-level suppression list, bulk add (CreateImportJob, SuppressionListDestination PUT): one
    # "recipient@example.com,BOUNCE" line per address, no header; reasons BOUNCE and COMPLAINT only;
    # 100,000 addresses per S3 object. SES suppresses a listed address only when its reason is one of the
    # account's SuppressedReasons ("if they don't match, then SES will send it"): the account must list
    # both (aws sesv2 put-account-suppression-attributes --suppressed-reasons BOUNCE COMPLAINT). COMPLAINT
    # for a complaint, BOUNCE for a hard bounce (or an unknown code), COMPLAINT for an unsubscribe (the
    # recipient asked; BOUNCE would claim a dead mailbox). SES sends only to ASCII addresses ("does not
    # support SMTPUTF8"; a domain in Punycode): domains are written so, other addresses left out.
    "ses": SuppressionPreset(
        tool="Amazon SES account-level suppression list",
        docs=(
            "https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html",
            "https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateImportJob.html",
        ),
        files=(SuppressionFile("", "all", (Column("emailAddress", "email"), Column("reason", "ses_reason")),
                               header=False),),
        limits="100,000 addresses per S3 object; SuppressedReasons must include BOUNCE and COMPLAINT",
        max_rows=100_000,
        bom=False,
        ascii_domains=True,
    ),
    # Global unsubscribes (POST /v3/asm/suppressions/global takes recipient_emails): the one SendGrid
    # suppression list that can be added to (bounces and spam reports can only be read or deleted).
    # The file is one "email" column, the header SendGrid's uploads use for addresses.
    "sendgrid": SuppressionPreset(
        tool="SendGrid global unsubscribes",
        docs=(
            "https://www.twilio.com/docs/sendgrid/api-reference/suppressions-global-suppressions/"
            "add-recipient-addresses-to-the-global-suppression-group",
            "https://www.twilio.com/docs/sendgrid/ui/sending-email/global-unsubscribes",
        ),
        files=(SuppressionFile("", "all", (_EMAIL,)),),
    ),
    # Suppressed profiles: upload a file whose one column has the header "Email".
    "klaviyo": SuppressionPreset(
        tool="Klaviyo suppressed profiles",
        docs=(
            "https://help.klaviyo.com/hc/en-us/articles/115005073867",
            "https://help.klaviyo.com/hc/en-us/articles/115005246108",
        ),
        files=(SuppressionFile("", "all", (Column("Email", "email"),)),),
        limits="50 MB per file",
    ),
    # Blocklist import: a contact import with the EMAIL column, and "Blocklist the imported Email
    # contacts" switched on before confirming.
    "brevo": SuppressionPreset(
        tool="Brevo blocklist",
        docs=(
            "https://help.brevo.com/hc/en-us/articles/208773869",
            "https://help.brevo.com/hc/en-us/articles/208729849",
        ),
        files=(SuppressionFile("", "all", (Column("EMAIL", "email"),)),),
        limits="250 MB per file",
    ),
})  # fmt: skip


def check_preset(name: str, *, kind: Literal["segment", "suppression"]) -> str:
    """The canonical name of a preset (case and surrounding spaces ignored), or a :class:`ConfigError`.

    ``kind`` says which table: ``segment`` (``--format``) or ``suppression`` (``--suppression-format``).
    """
    tables: dict[str, Mapping[str, object]] = {"segment": SEGMENT_PRESETS, "suppression": SUPPRESSION_PRESETS}
    if kind not in tables:
        raise ConfigError(f"Unknown kind of preset {shown(str(kind))}: choose segment or suppression.")
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in tables[kind]:
        raise ConfigError(
            f"Unknown {kind} format {shown(str(name))}: choose one of {', '.join(tables[kind])}."
        )
    return key


def segment_table(rows: pl.DataFrame, preset: str, *, passthrough: Sequence[str]) -> ImportTable:
    """One segment (or warm-up day) in the shape of ``preset``'s contact import.

    ``rows`` has the segment columns (:data:`SEGMENT_FIELDS`) and the ``passthrough`` columns (their
    names as the analyst's list had them). Rows keep their order; ``generic`` returns ``rows``
    unchanged.
    """
    spec = SEGMENT_PRESETS[check_preset(preset, kind="segment")]
    _require(rows, [*SEGMENT_FIELDS, *passthrough], "segment")
    if spec.address is None:
        return ImportTable("", rows, "email")
    rule = spec.names
    # a pass-through column spelled like the tag column (Mailchimp's exported TAGS) is merged into it
    merged = [
        name
        for name in passthrough
        if spec.tags is not None and rule.key(rule.spell(name)) == rule.key(spec.tags)
    ]
    others = [name for name in passthrough if name not in merged]
    if spec.ascii_domains:
        rows = rows.with_columns(email=pl.coalesce(ascii_addresses(rows["email"]), pl.col("email")))
    exprs = [pl.col("email").alias(spec.address)]
    if spec.full_name is not None:
        exprs.append(_full_name().alias(spec.full_name))
    exprs += [_cell(field, spec.date_format).alias(header) for field, header in spec.columns]
    exprs += [pl.lit(value, pl.String).alias(header) for header, value in spec.constants]
    if spec.tags is not None:
        exprs.append(_tags(merged).alias(spec.tags))
    if spec.bag is not None:
        keys = rule.unique(others, taken=[key for _, key in spec.bag_fields])
        members = [_json_value(field).alias(key) for field, key in spec.bag_fields]
        members += [named(name).alias(key) for name, key in zip(others, keys, strict=True)]
        exprs.append(pl.struct(members).struct.json_encode().alias(spec.bag))
    else:
        headers = rule.unique(others, taken=spec.headers())
        exprs += [named(name).alias(header) for name, header in zip(others, headers, strict=True)]
    return ImportTable("", rows.select(exprs), spec.address, max_rows=spec.max_rows, bom=spec.bom)


def suppression_tables(suppression: pl.DataFrame, preset: str) -> list[ImportTable]:
    """The suppression list in the shape of ``preset``'s suppression import: its files, in a fixed order.

    ``suppression`` has one row per address (``email``, ``reason`` as ``;``-joined codes, the dates
    and the bounce's status and reason). Each file holds the rows it applies to, in input order (an
    address with several reasons is in every file that applies); tool presets keep only valid
    addresses. A file may be empty.
    """
    spec = SUPPRESSION_PRESETS[check_preset(preset, kind="suppression")]
    needed = {"email", "reason"} | {
        source for file in spec.files for column in file.columns for source in _sources(column)
    }
    _require(suppression, sorted(needed), "suppression")
    rows = _valid_only(suppression)
    if spec.ascii_domains:  # the tool never sends to a non-ASCII local part: nothing to suppress there
        rows = rows.with_columns(email=ascii_addresses(rows["email"])).filter(pl.col("email").is_not_null())
    tables = []
    for file in spec.files:
        chosen = rows.filter(_ROWS[file.rows]()) if file.rows != "all" else rows
        frame = chosen.select([_suppression_cell(column) for column in file.columns])
        address = next(column.header for column in file.columns if column.value == "email")
        table = ImportTable(file.kind, frame, address, file.header, max_rows=spec.max_rows, bom=spec.bom)
        tables.append(table)
    return tables


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"the {what} rows lack the column(s) {', '.join(map(repr, missing))}",
            hint=f"pass the frame listkit's run produces (found: {', '.join(map(repr, frame.columns))})",
        )


def _cell(field: str, date_format: str | None) -> pl.Expr:
    """A listkit field as a text cell of a column preset."""
    if field == "signup_at":
        return pl.col(field).dt.strftime(date_format or _ISO_UTC)
    if field == "score":  # one decimal, as the writer writes scores: every tool's number field reads it
        return pl.col(field).round(1).cast(pl.String)
    return pl.col(field)


def _json_value(field: str) -> pl.Expr:
    """A listkit field as a JSON value: dates as ISO 8601 UTC text, the score as a number."""
    if field == "signup_at":
        return pl.col(field).dt.strftime(_ISO_UTC)
    if field == "score":
        return pl.col(field).round(1)
    return pl.col(field)


def _full_name() -> pl.Expr:
    """``first last``, either one alone when the other is unknown, else null."""
    joined = pl.concat_str(
        pl.col("first_name").str.strip_chars(), pl.col("last_name").str.strip_chars(),
        separator=" ", ignore_nulls=True,
    )  # fmt: skip
    return pl.when(joined != "").then(joined)


def _tags(merged: Sequence[str]) -> pl.Expr:
    """Mailchimp's tag cell: the merged columns' tags, then the segment as one quoted tag.

    The segment's tag is ``listkit-<segment>`` (:data:`TAG_PREFIX`); the tags of earlier listkit runs
    are dropped from the merged cells (quoted, as Mailchimp exports tags), so a reader carries one
    segment's tag; a double quote in a segment name becomes ``'`` so the tag stays one tag.
    """
    name = pl.col("segment").str.replace_all('"', "'", literal=True)
    tag = pl.concat_str(pl.lit('"' + TAG_PREFIX), name, pl.lit('"'))
    earlier = f'"{re.escape(TAG_PREFIX)}[^"]*"'
    existing = [
        named(column).str.replace_all(earlier, "").str.replace_all(",{2,}", ",").str.strip_chars(" ,")
        for column in merged
    ]
    parts = [pl.when(cell != "").then(cell) for cell in existing]
    return pl.concat_str([*parts, tag], separator=",", ignore_nulls=True)


def _codes() -> pl.Expr:
    return pl.col("reason").str.split(";")


def _has(code: str) -> pl.Expr:
    return _codes().list.contains(code).fill_null(False)


def _is_bounce() -> pl.Expr:
    """A hard bounce, or a code no tool has a word for (also an empty or null reason): a bounce."""
    unknown = _codes().list.eval(~pl.element().is_in(_KNOWN_REASONS)).list.any().fill_null(True)
    return _has(_HARD_BOUNCE) | unknown


_ROWS: dict[str, Callable[[], pl.Expr]] = {
    "bounce": _is_bounce,
    "complaint": lambda: _has(_COMPLAINT),
    "unsubscribe": lambda: _has(_UNSUBSCRIBED),
}


def _smtp_code() -> pl.Expr:
    """The reply code a bounce status starts with (``550 5.1.1 ...``), else Mailgun's default 550."""
    return pl.col("bounce_status").str.extract(r"^\s*([245][0-9]{2})\b", 1).fill_null("550")


def _smtp_error() -> pl.Expr:
    """The bounce's status text, else its reason code, else the row's reasons (an unknown code)."""
    return pl.coalesce(pl.col("bounce_status"), pl.col("bounce_reason"), pl.col("reason"))


def _ses_reason() -> pl.Expr:
    """COMPLAINT for a complaint or an unsubscribe, BOUNCE for a hard bounce or an unknown code."""
    return pl.when(_is_bounce() & ~_has(_COMPLAINT)).then(pl.lit("BOUNCE")).otherwise(pl.lit("COMPLAINT"))


#: Derived values of suppression columns: the frame's columns each reads, and how.
_DERIVED: dict[str, tuple[tuple[str, ...], Callable[[], pl.Expr]]] = {
    "smtp_code": (("bounce_status",), _smtp_code),
    "smtp_error": (("bounce_status", "bounce_reason"), _smtp_error),
    "ses_reason": ((), _ses_reason),
}


def _sources(column: Column) -> tuple[str, ...]:
    """The suppression frame's columns a file column reads."""
    if column.constant is not None:
        return ()
    if column.value in _DERIVED:
        return _DERIVED[column.value][0]
    return (column.value,)


def _suppression_cell(column: Column) -> pl.Expr:
    if column.constant is not None:
        return pl.lit(column.constant, pl.String).alias(column.header)
    if column.value in _DERIVED:
        return _DERIVED[column.value][1]().alias(column.header)
    if column.date_format is not None:
        return pl.col(column.value).dt.strftime(column.date_format).alias(column.header)
    return pl.col(column.value).alias(column.header)


def _valid_only(suppression: pl.DataFrame) -> pl.DataFrame:
    """The rows whose address is a valid address as written (a tool refuses anything else).

    "As written": email-validator accepts it and its normalised form is the cell itself up to case,
    so a display-name form or an address with spaces around it is dropped, not rewritten.
    """
    distinct = suppression["email"].drop_nulls().unique(maintain_order=True)
    checked = check_addresses(distinct)
    same = checked["email_normalized"].str.to_lowercase() == distinct.str.to_lowercase()
    valid = distinct.filter(checked["syntax_valid"] & same.fill_null(False))
    return suppression.filter(pl.col("email").is_in(valid.implode()))
