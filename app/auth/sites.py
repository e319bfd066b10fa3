"""The widget's site registry: which web sites may embed Cadre's chat, and their visitors.

An admin registers a site (`cadre sites add https://shop.example …`): its origin, a name,
the operators its visitors may use, a per-visitor rate limit and daily token budget, and a
secret. Only pages on a registered origin get widget tokens (app/api/widget.py).

Visitors are users of their own, one per site and visitor, so their conversations are
isolated like any user's: `w-<site>-<digest of the visitor id>`. The visitor id is either
the site's own (its backend signs it: `HMAC-SHA256(site secret, visitor id)` in hex) or an
anonymous one Cadre mints and signs the same way, which the snippet keeps in the browser.
`visitor_token` makes the short-lived login token the copilot widget takes.

Not served yet: the token route, `cadre sites`, the registry-driven CORS and socket Origin
checks and the per-visitor limits in the chat come with the rest of the widget (issue 12).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from app.auth.errors import AuthError
from app.auth.origins import normalize_origin
from app.auth.tokens import TOKEN_VERSION
from app.auth.users import SessionSource
from app.db.domain import Site, UsageRecord
from app.db.limits import EventWindows, Limit
from app.db.models import User as UserRow
from app.db.types import utcnow

WIDGET_PROVIDER = "widget"
"""`auth_provider` of visitor users."""
_VISITOR_ID = re.compile(r"[A-Za-z0-9._@+\-]{1,128}")


TOKEN_SECONDS = 15 * 60
"""How long a widget token may open a chat."""


class SiteError(AuthError):
    """A site cannot be registered, found or removed as asked."""


class VisitorRefusedError(AuthError):
    """A visitor id whose signature does not match the site's secret."""


class VisitorLimitError(AuthError):
    """A widget visitor has sent too many messages this minute or used today's tokens."""


@dataclass(frozen=True)
class SiteInfo:
    """A registered site."""

    id: str
    origin: str
    name: str
    operators: tuple[str, ...]
    rate_per_minute: int
    daily_tokens: int
    secret: str

    @classmethod
    def of(cls, row: Site) -> SiteInfo:
        """The site in `row`."""
        return cls(
            row.id,
            row.origin,
            row.name,
            tuple(row.operators or ()),
            row.rate_per_minute,
            row.daily_tokens,
            row.secret,
        )

    def sign(self, visitor_id: str) -> str:
        """The signature a site's backend sends with `visitor_id` (hex HMAC-SHA256)."""
        return hmac.new(self.secret.encode(), visitor_id.encode(), hashlib.sha256).hexdigest()

    def visitor_user(self, visitor_id: str) -> str:
        """The identifier of the user a visitor of this site is."""
        digest = hashlib.sha256(f"{self.id}:{visitor_id}".encode()).hexdigest()[:24]
        return f"w-{self.id[:8]}-{digest}"


def visitor_token(site: SiteInfo, identifier: str, secret: str, now: float | None = None) -> str:
    """A short-lived login token for the visitor user `identifier` of `site`.

    An HS256 JWT signed with the login secret, in the shape Chainlit's copilot widget takes
    as `accessToken` and Cadre's revocation checks accept (identifier, metadata with the
    token version, `iat`, `exp`).
    """
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "identifier": identifier,
        "display_name": "Visitor",
        "metadata": {
            "role": "member",
            "provider": WIDGET_PROVIDER,
            "site": site.id,
            TOKEN_VERSION: 0,
        },
        "iat": issued,
        "exp": issued + TOKEN_SECONDS,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _check_origin(origin: str) -> str:
    normalized = normalize_origin(origin)
    if normalized is None:
        raise SiteError(
            f"{origin!r} is not a web origin: write scheme://host[:port], like https://shop.example"
        )
    return normalized


class SiteStore:
    """The `sites` table, and the visitor users of each site."""

    def __init__(self, store: SessionSource) -> None:
        self.store = store

    async def add(
        self,
        origin: str,
        name: str,
        *,
        operators: tuple[str, ...] = (),
        rate_per_minute: int = 10,
        daily_tokens: int = 20_000,
    ) -> SiteInfo:
        """Register a site; `SiteError` if its origin is taken or a limit makes no sense."""
        normalized = _check_origin(origin)
        if rate_per_minute < 1 or daily_tokens < 1:
            raise SiteError("--rate and --budget must be at least 1")
        label = " ".join(name.split())[:255]
        if not label:
            raise SiteError("give the site a --name")
        async with self.store.writing() as session:
            if await session.scalar(select(Site.id).where(Site.origin == normalized)):
                raise SiteError(f"{normalized} is already registered: see `cadre sites list`")
            row = Site(
                id=str(uuid.uuid4()),
                origin=normalized,
                name=label,
                operators=list(dict.fromkeys(op.strip() for op in operators if op.strip())),
                rate_per_minute=rate_per_minute,
                daily_tokens=daily_tokens,
                secret=secrets.token_urlsafe(32),
                created_at=utcnow(),
            )
            session.add(row)
        return SiteInfo.of(row)

    async def list(self) -> list[SiteInfo]:
        """Every registered site, by origin."""
        async with self.store.reading() as session:
            rows = await session.scalars(select(Site).order_by(Site.origin))
            return [SiteInfo.of(row) for row in rows]

    async def by_origin(self, origin: str | None) -> SiteInfo | None:
        """The site registered for `origin` (any spelling of it), or None."""
        normalized = normalize_origin(origin) if origin else None
        if normalized is None:
            return None
        async with self.store.reading() as session:
            row = await session.scalar(select(Site).where(Site.origin == normalized))
            return None if row is None else SiteInfo.of(row)

    async def remove(self, origin: str) -> SiteInfo:
        """Unregister a site: its pages get no new tokens."""
        site = await self.by_origin(_check_origin(origin))
        if site is None:
            raise SiteError(f"{origin} is not registered: see `cadre sites list`")
        async with self.store.writing() as session:
            await session.execute(delete(Site).where(Site.id == site.id))
        return site

    async def site_of(self, user_id: str) -> SiteInfo | None:
        """The site whose visitor the user `user_id` is; None for everyone else."""
        async with self.store.reading() as session:
            metadata = await session.scalar(
                select(UserRow.metadata_).where(
                    UserRow.id == user_id, UserRow.auth_provider == WIDGET_PROVIDER
                )
            )
            site_id = (metadata or {}).get("site")
            if not site_id:
                return None
            row = await session.get(Site, site_id)
            return None if row is None else SiteInfo.of(row)

    async def tokens_today(self, user_id: str) -> int:
        """Model tokens the user's turns used since midnight UTC."""
        midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        query = select(
            func.coalesce(func.sum(UsageRecord.input_tokens + UsageRecord.output_tokens), 0)
        ).where(UsageRecord.user_id == user_id, UsageRecord.created_at >= midnight)
        async with self.store.reading() as session:
            return int(await session.scalar(query) or 0)

    async def visitor(
        self, site: SiteInfo, visitor_id: str | None, signature: str | None
    ) -> tuple[str, str, str]:
        """The visitor's user identifier, visitor id and signature, creating the user.

        A signed visitor id must carry the site's signature (`VisitorRefusedError` if not);
        without one the visitor is new and anonymous: a random id, signed by Cadre, that
        the browser sends back next time to keep its conversations.
        """
        if visitor_id is None:
            visitor_id = f"anon-{secrets.token_hex(16)}"
            signature = site.sign(visitor_id)
        if not _VISITOR_ID.fullmatch(visitor_id):
            raise VisitorRefusedError("a visitor id is 1-128 letters, digits or ._@+-")
        if signature is None or not hmac.compare_digest(site.sign(visitor_id), signature):
            raise VisitorRefusedError("the visitor id's signature does not match the site")
        identifier = site.visitor_user(visitor_id)
        metadata: dict[str, Any] = {"site": site.id, "site_origin": site.origin}
        try:
            async with self.store.writing() as session:
                row = await session.scalar(select(UserRow).where(UserRow.identifier == identifier))
                if row is None:
                    session.add(
                        UserRow(
                            id=str(uuid.uuid4()),
                            identifier=identifier,
                            display_name="Visitor",
                            role="member",
                            auth_provider=WIDGET_PROVIDER,
                            metadata_=metadata,
                        )
                    )
                elif row.disabled:
                    raise VisitorRefusedError("this visitor has been blocked")
        except IntegrityError:
            pass  # the same visitor's other tab created the row a moment ago
        return identifier, visitor_id, signature


VISITOR_KIND = "widget-message"
RATE_WINDOW_S = 60.0


class VisitorLimits:
    """The per-visitor rate limit and daily token budget of widget sites.

    Messages per minute are counted in the database (a sliding window, `app.db.limits`) and
    tokens per day are summed from the usage ledger, so both hold across restarts and across
    the processes that share the database.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: EventWindows | None = None

    async def admit(self, sites: SiteStore, user_id: str, site: SiteInfo) -> None:
        """Count one message of the visitor; `VisitorLimitError` with what to do if over."""
        if self._windows is None or self._windows.store is not sites.store:
            self._windows = EventWindows(sites.store, self._clock)  # one per database
        used = await sites.tokens_today(user_id)
        over_budget = used >= site.daily_tokens
        rate = Limit(VISITOR_KIND, user_id, site.rate_per_minute, RATE_WINDOW_S)
        taken = await self._windows.take([rate], record=not over_budget)
        if not taken.admitted:
            raise VisitorLimitError(
                f"You have sent {taken.counts[0]} messages in the last minute, the most "
                f"{site.name} allows. Wait a minute, then try again."
            )
        if over_budget:
            raise VisitorLimitError(
                f"You have used today's allowance on {site.name} ({site.daily_tokens} "
                "tokens). Come back tomorrow."
            )
