"""`cadre sites …`: the web sites whose pages may embed the chat widget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.cli.options import DataDir, load_settings, with_store

if TYPE_CHECKING:
    from app.auth.sites import SiteInfo, SiteStore

T = TypeVar("T")

sites_cli = typer.Typer(
    name="sites",
    help="Register the web sites that may embed the chat widget.",
    no_args_is_help=True,
)

Origin = Annotated[str, typer.Argument(help="The site's origin, like https://shop.example.")]

SNIPPET = """<!-- Cadre chat widget for {name}: paste before </body> on pages of {origin} -->
<script src="{server}/copilot/index.js"></script>
<script>
  (async () => {{
    const cadre = "{server}";
    // Logged-in visitors: your backend renders window.cadreVisitor = {{visitor, signature}}
    // with signature = hex HMAC-SHA256(site secret, visitor). Otherwise visitors are anonymous.
    const saved = localStorage.getItem("cadre-visitor");
    const known = window.cadreVisitor || (saved && JSON.parse(saved));
    const query = known ? "?" + new URLSearchParams(known) : "";
    const reply = await fetch(cadre + "/widget/token" + query);
    if (!reply.ok) {{ console.warn("Cadre widget:", (await reply.json()).detail); return; }}
    const {{ token, visitor, signature }} = await reply.json();
    const kept = JSON.stringify({{ visitor, signature }});
    if (!window.cadreVisitor) localStorage.setItem("cadre-visitor", kept);
    window.mountChainlitWidget({{ chainlitServer: cadre, accessToken: token }});
  }})();
</script>"""


def snippet(site: SiteInfo, server: str) -> str:
    """The HTML a site owner pastes into their pages."""
    return SNIPPET.format(name=site.name, origin=site.origin, server=server.rstrip("/"))


def _with_sites(data_dir: Path | None, action: Callable[[SiteStore], Awaitable[T]]) -> T:
    """Run `action` on the sites table (migrated first), turning our errors into messages."""
    from app.auth.sites import SiteStore

    return with_store(data_dir, SiteStore, action)


def _server(data_dir: Path | None) -> str:
    settings = load_settings(data_dir)
    return settings.public_url or f"http://{settings.host}:{settings.port}"


@sites_cli.command("add")
def add(
    origin: Origin,
    name: Annotated[str, typer.Option(help="The site's name, shown to admins.")],
    operators: Annotated[
        str, typer.Option(help="Comma-separated operators its visitors may use.")
    ] = "",
    rate: Annotated[int, typer.Option(help="Messages per visitor per minute.")] = 10,
    budget: Annotated[int, typer.Option(help="Model tokens per visitor per day.")] = 20_000,
    data_dir: DataDir = None,
) -> None:
    """Register a site and print the snippet to paste into its pages."""
    names = tuple(op.strip() for op in operators.split(",") if op.strip())
    site = _with_sites(
        data_dir,
        lambda sites: sites.add(
            origin, name, operators=names, rate_per_minute=rate, daily_tokens=budget
        ),
    )
    typer.echo(snippet(site, _server(data_dir)))
    typer.echo(
        f"Registered {site.origin} ({site.name}): operators {', '.join(site.operators) or '-'}, "
        f"{site.rate_per_minute} messages/minute and {site.daily_tokens} tokens/day per visitor.\n"
        f"Site secret, for signing visitor ids on your backend: {site.secret}",
        err=True,
    )


@sites_cli.command("list")
def list_sites(data_dir: DataDir = None) -> None:
    """Show the registered sites and their limits."""
    sites = _with_sites(data_dir, lambda store: store.list())
    if not sites:
        typer.echo("No sites yet: `cadre sites add https://shop.example --name Shop` adds one.")
        return
    typer.echo(f"{'ORIGIN':<40} {'NAME':<20} {'RATE/MIN':>8} {'TOKENS/DAY':>10} OPERATORS")
    for site in sites:
        typer.echo(
            f"{site.origin:<40} {site.name[:20]:<20} {site.rate_per_minute:>8} "
            f"{site.daily_tokens:>10} {', '.join(site.operators) or '-'}"
        )


@sites_cli.command("remove")
def remove(origin: Origin, data_dir: DataDir = None) -> None:
    """Unregister a site: its pages get no new widget tokens."""
    site = _with_sites(data_dir, lambda sites: sites.remove(origin))
    typer.echo(f"Removed {site.origin} ({site.name}).")
