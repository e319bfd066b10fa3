"""The HTML of the API keys page: plain forms, inline CSS, one small inline script.

Everything interpolated goes through `_e` (HTML-escaped). The page works without
JavaScript; the script only adds the copy button, and the Content-Security-Policy allows it
by its hash (app/api/page.py), never by 'unsafe-inline'.

The referrer policy is `same-origin`, not the chat page's `no-referrer`: under `no-referrer`
Chromium sends `Origin: null` with a form post, and the origin checks would refuse the
page's own forms. Other sites still get no Referer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from app.auth.api_keys import KeyInfo, NewKey

EXPIRY_CHOICES: dict[str, int | None] = {
    "": None,
    "7": 7,
    "30": 30,
    "90": 90,
    "365": 365,
}
"""The form's expiry options: days until the key stops working (None: never)."""
_EXPIRY_LABELS = {"": "Never", "7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year"}
NAME_LIMIT = 100
PAGE_PATH = "/settings/keys"

_STYLE = """
:root { color-scheme: light dark; --primary: hsl(224 75% 48%); --bg: #f7f8fa; --card: #fff;
  --text: #1c1f24; --muted: #5b6270; --line: #dfe2e8; --ok-bg: #e8f5ec; --ok-line: #7cc495;
  --bad-bg: #fdecec; --bad-line: #e59a9a; --bad: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --primary: hsl(224 86% 59%); --bg: #16181d;
  --card: #1f2229; --text: #e8eaef; --muted: #a2a9b6; --line: #343843; --ok-bg: #18301f;
  --ok-line: #2f7a45; --bad-bg: #3a1d1d; --bad-line: #8a3a3a; --bad: #ff8a80; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
  padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--card); }
header .brand { display: flex; align-items: center; gap: .5rem; font-weight: 600;
  color: var(--text); text-decoration: none; }
header nav { display: flex; gap: 1rem; align-items: center; color: var(--muted); }
main { max-width: 68rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { font-size: 1.15rem; margin: 0 0 .75rem; }
a { color: var(--primary); }
.lead { color: var(--muted); margin-top: 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .75rem;
  padding: 1.25rem; margin: 1.25rem 0; }
.card.ok { background: var(--ok-bg); border-color: var(--ok-line); }
.card.bad { background: var(--bad-bg); border-color: var(--bad-line); }
.alert { border-radius: .5rem; padding: .75rem 1rem; margin: 1rem 0; border: 1px solid; }
.alert.bad { background: var(--bad-bg); border-color: var(--bad-line); }
.alert.ok { background: var(--ok-bg); border-color: var(--ok-line); }
form.create { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; }
label { display: flex; flex-direction: column; gap: .25rem; font-size: .9rem;
  color: var(--muted); }
input, select, button, .button { font: inherit; border-radius: .5rem; padding: .5rem .75rem;
  border: 1px solid var(--line); background: var(--card); color: var(--text); }
input[type=text] { min-width: 18rem; } input, select { height: 2.6rem; }
section { margin-bottom: 1.75rem; } .table-wrap { overflow-x: auto; }
td code, td time { white-space: nowrap; }
button, .button { cursor: pointer; background: var(--primary); color: #fff;
  border-color: var(--primary); text-decoration: none; display: inline-block; }
button.danger { background: var(--bad); border-color: var(--bad); }
.secret { display: flex; gap: .5rem; margin: .75rem 0; }
.secret input { flex: 1; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { width: 100%; border-collapse: collapse; background: var(--card);
  border: 1px solid var(--line); border-radius: .75rem; overflow: hidden; }
th, td { text-align: left; padding: .6rem .75rem; border-bottom: 1px solid var(--line);
  font-size: .92rem; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
tr:last-child td { border-bottom: none; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: .5rem;
  padding: .75rem; overflow-x: auto; font-size: .85rem; }
.state { border-radius: 1rem; padding: .1rem .55rem; font-size: .8rem; border: 1px solid; }
.state.active { color: #1e7a3c; border-color: var(--ok-line); background: var(--ok-bg); }
.state.revoked, .state.expired { color: var(--muted); border-color: var(--line); }
.muted { color: var(--muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
"""

# Static text, so its hash (in the page's CSP) never changes. Without a secure context
# (plain http on a LAN address) the clipboard API is missing: select the field and copy.
# Replacing the history entry turns a reload of the new-key page into a plain GET: no
# "resubmit the form?" that would make a second key, and the key is not shown again.
_COPY_SCRIPT = """
if (window.history.replaceState) { window.history.replaceState(null, "", location.href); }
document.querySelectorAll("[data-copy-target]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy-target"));
  var status = document.getElementById(button.getAttribute("data-copy-status"));
  button.hidden = false;
  button.addEventListener("click", function () {
    function report(copied) {
      status.textContent = copied ? "Copied to the clipboard."
        : "Could not copy: select the key and press Ctrl+C (Cmd+C on a Mac).";
    }
    function fallback() { field.select(); report(document.execCommand("copy")); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { report(true); }, fallback);
    } else {
      fallback();
    }
  });
});
"""


@dataclass(frozen=True)
class KeysView:
    """What the keys page shows to one signed-in person."""

    identifier: str
    form_token: str
    api_base: str
    """The `/v1` URL an OpenAI client points at."""
    mine: list[KeyInfo]
    everyone: list[tuple[str, KeyInfo]] | None = None
    """Every user's keys with their owners, for admins; None for members."""
    created: NewKey | None = None
    """The key just made: its secret appears on this one response only."""
    notice: str | None = None
    error: str | None = None
    name: str = ""
    expires: str = ""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(moment: datetime | None, empty: str = "never") -> str:
    if moment is None:
        return f'<span class="muted">{_e(empty)}</span>'
    shown = moment.strftime("%Y-%m-%d %H:%M")
    return f'<time datetime="{_e(moment.isoformat())}">{_e(shown)} UTC</time>'


def _layout(title: str, identifier: str | None, body: str, *, script: bool = False) -> str:
    who = f"<span>Signed in as <strong>{_e(identifier)}</strong></span>" if identifier else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{_e(title)} · Cadre</title>
<link rel="icon" href="/favicon">
<style>{_STYLE}</style>
</head>
<body>
<header>
<a class="brand" href="/"><img src="/public/favicon.svg" alt="" width="24" height="24">Cadre</a>
<nav>{who}<a href="/">Back to the chat</a></nav>
</header>
<main>
{body}
</main>
{f"<script>{_COPY_SCRIPT}</script>" if script else ""}
</body>
</html>
"""


def _hidden_token(token: str) -> str:
    return f'<input type="hidden" name="form_token" value="{_e(token)}">'


def _new_key(made: NewKey, api_base: str) -> str:
    return f"""<section class="card ok" id="new-key" role="status">
<h2>Your new key “{_e(made.info.name)}”</h2>
<p><strong>Copy it now: it will not be shown again.</strong> Cadre keeps only a hash of it;
if you lose it, revoke it and create a new one.</p>
<div class="secret">
<input id="new-key-value" type="text" readonly value="{_e(made.secret)}" autocomplete="off"
 spellcheck="false" aria-label="Your new API key">
<button type="button" id="copy-key" hidden data-copy-target="new-key-value"
 data-copy-status="copy-status">Copy</button>
</div>
<p id="copy-status" class="muted" aria-live="polite"></p>
<p>Use it from any OpenAI client:</p>
<pre>import os
from openai import OpenAI

client = OpenAI(base_url="{_e(api_base)}", api_key=os.environ["CADRE_API_KEY"])
reply = client.chat.completions.create(
    model="cadre", messages=[{{"role": "user", "content": "Hello"}}]
)</pre>
<p><a class="button" href="{PAGE_PATH}">I have copied it</a></p>
</section>"""


def _create_form(view: KeysView) -> str:
    options = "".join(
        f'<option value="{_e(value)}"{" selected" if value == view.expires else ""}>'
        f"{_e(label)}</option>"
        for value, label in _EXPIRY_LABELS.items()
    )
    return f"""<section class="card">
<h2>Create a key</h2>
<form class="create" method="post" action="{PAGE_PATH}">
{_hidden_token(view.form_token)}
<label>Name <input type="text" name="name" maxlength="{NAME_LIMIT}" value="{_e(view.name)}"
 placeholder="e.g. laptop scripts" autocomplete="off"></label>
<label>Expires <select name="expires_days">{options}</select></label>
<button type="submit">Create key</button>
</form>
</section>"""


def _state(info: KeyInfo) -> str:
    since = {"revoked": info.revoked_at, "expired": info.expires_at}.get(info.state)
    title = f' title="since {_e(since.strftime("%Y-%m-%d %H:%M"))} UTC"' if since else ""
    return f'<span class="state {_e(info.state)}"{title}>{_e(info.state)}</span>'


def _rows(keys: Iterable[tuple[str | None, KeyInfo]], revoke: bool) -> str:
    rows = []
    for owner, info in keys:
        action = (
            f'<a href="{PAGE_PATH}/{_e(info.id)}/revoke" aria-label="Revoke {_e(info.name)}">'
            "Revoke</a>"
            if revoke and info.state == "active"
            else ""
        )
        rows.append(
            "<tr>"
            + (f"<td>{_e(owner)}</td>" if owner is not None else "")
            + f"<td>{_e(info.name)}</td><td><code>{_e(info.prefix)}</code></td>"
            f"<td>{_state(info)}</td>"
            f"<td>{_when(info.created_at)}</td><td>{_when(info.last_used_at)}</td>"
            f"<td>{_when(info.expires_at)}</td><td>{action}</td></tr>"
        )
    return "".join(rows)


def _table(caption: str, keys: list[tuple[str | None, KeyInfo]], with_owner: bool) -> str:
    owner = "<th scope=col>User</th>" if with_owner else ""
    return f"""<div class="table-wrap"><table>
<caption class="visually-hidden">{_e(caption)}</caption>
<thead><tr>{owner}<th scope=col>Name</th><th scope=col>Prefix</th><th scope=col>State</th>
<th scope=col>Created</th><th scope=col>Last used</th><th scope=col>Expires</th>
<th scope=col><span class="muted">Action</span></th></tr></thead>
<tbody>{_rows(keys, revoke=True)}</tbody>
</table></div>"""


def keys_page(view: KeysView) -> str:
    """The page: the new key (once), messages, the create form and the key lists."""
    parts = [
        "<h1>API keys</h1>",
        '<p class="lead">A personal API key lets a program call Cadre as you, with your '
        f"documents, from any OpenAI client: base URL <code>{_e(view.api_base)}</code>, model "
        "<code>cadre</code> (or <code>operator:NAME</code>). Revoke a key you no longer use.</p>",
    ]
    if view.error:
        parts.append(f'<div class="alert bad" role="alert" id="error">{_e(view.error)}</div>')
    if view.notice:
        parts.append(f'<div class="alert ok" role="status" id="notice">{_e(view.notice)}</div>')
    if view.created is not None:
        parts.append(_new_key(view.created, view.api_base))
    parts.append(_create_form(view))
    parts.append("<section><h2>Your keys</h2>")
    if view.mine:
        parts.append(_table("Keys you created", [(None, info) for info in view.mine], False))
    else:
        parts.append('<p class="muted" id="no-keys">You have no API keys yet.</p>')
    parts.append("</section>")
    if view.everyone is not None:
        others = [(owner, info) for owner, info in view.everyone if owner != view.identifier]
        parts.append("<section><h2>Everyone's keys</h2>")
        if others:
            parts.append(_table("Keys of other users (you are an admin)", list(others), True))
        else:
            parts.append('<p class="muted">No other user has an API key.</p>')
        parts.append("</section>")
    return _layout("API keys", view.identifier, "\n".join(parts), script=view.created is not None)


def confirm_revoke_page(identifier: str, token: str, info: KeyInfo, owner: str) -> str:
    """Are you sure? A form that revokes `info`, and a way back."""
    whose = "" if owner == identifier else f" of {_e(owner)}"
    body = f"""<h1>Revoke an API key</h1>
<section class="card bad">
<h2>Revoke “{_e(info.name)}” (<code>{_e(info.prefix)}</code>){whose}?</h2>
<p>Every program that uses this key gets <strong>401 Unauthorized</strong> from its next
request on. This cannot be undone: to use the API again, create a new key.</p>
<form method="post" action="{PAGE_PATH}/{_e(info.id)}/revoke">
{_hidden_token(token)}
<button type="submit" class="danger">Revoke key</button>
<a href="{PAGE_PATH}" style="margin-left:1rem">Cancel</a>
</form>
</section>"""
    return _layout("Revoke an API key", identifier, body)


def message_page(title: str, text: str, *, identifier: str | None = None, link: str = "") -> str:
    """A page that explains why a request was refused and where to go next."""
    action = f'<p><a class="button" href="{_e(link)}">Continue</a></p>' if link else ""
    body = f'<h1>{_e(title)}</h1><div class="alert bad" role="alert">{_e(text)}</div>{action}'
    return _layout(title, identifier, body)
