"""Matrix checks over the client-server API: login, room membership and power in the management,
protected, policy and escalation rooms, the Synapse admin API, and the encryption keys."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import aiohttp

from .checks import Checklist


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session, self.base, self.token = session, base.rstrip("/"), None

    async def call(self, method: str, path: str, body=None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
            return resp.status, data if isinstance(data, dict) else {}


async def matrix_checks(cfg, base_dir: Path, *, timeout: float = 15.0) -> Checklist:
    c = Checklist("matrix")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        api = _Api(session, cfg.homeserver)
        logged_in = False
        try:
            if cfg.access_token:
                api.token = cfg.access_token
                status, who = await api.call("GET", "/_matrix/client/v3/account/whoami")
                ok = status == 200 and who.get("user_id") == cfg.user_id
                fix = "the homeserver refused matrix.access_token (or it belongs to another user): make a new one"
            else:
                status, resp = await api.call("POST", "/_matrix/client/v3/login", {
                    "type": "m.login.password", "identifier": {"type": "m.id.user", "user": cfg.user_id},
                    "password": cfg.password, "initial_device_display_name": "safety-bot doctor"})
                api.token = resp.get("access_token")
                ok = logged_in = status == 200 and bool(api.token)
                fix = "the homeserver refused matrix.user_id with matrix.password: check both"
        except (aiohttp.ClientError, TimeoutError) as exc:
            c.fail(f"the homeserver {cfg.homeserver} answers",
                   f"could not reach it ({exc.__class__.__name__}); check matrix.homeserver and the network")
            return c
        if not c.check(ok, f"login as {cfg.user_id} works", fix):
            return c
        try:
            await _rooms(c, api, cfg)
            if cfg.admin_api or cfg.suspend_local_accused:
                await _admin(c, api, cfg)
            await _keys(c, api, cfg, base_dir)
        finally:
            if logged_in:  # the doctor's own login: leave no device behind
                await api.call("POST", "/_matrix/client/v3/logout", {})
    return c


async def _resolve(api: _Api, room: str) -> str | None:
    if not room.startswith("#"):
        return room
    status, data = await api.call("GET", f"/_matrix/client/v3/directory/room/{quote(room, safe='')}")
    return data.get("room_id") if status == 200 else None


async def _rooms(c: Checklist, api: _Api, cfg) -> None:
    status, joined = await api.call("GET", "/_matrix/client/v3/joined_rooms")
    joined_rooms = set(joined.get("joined_rooms", []))
    wanted = [("management room", cfg.management_room, {"send messages": "events_default"})]
    wanted += [("protected room", r, {"ban": "ban", "redact": "redact"}) for r in cfg.protected_rooms]
    if cfg.policy_room:
        wanted.append(("policy room", cfg.policy_room, {"send state (ban rules)": "m.policy.rule.user"}))
    if cfg.escalation_room:
        wanted.append(("escalation room", cfg.escalation_room, {"send messages": "events_default"}))
    for what, room, powers in wanted:
        room_id = await _resolve(api, room)
        if not c.check(room_id in joined_rooms, f"the bot is in the {what} {room}",
                       f"invite {cfg.user_id} to {room} (the bot joins rooms it is invited to), or fix the room id "
                       "in the config"):
            continue
        status, pl = await api.call("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.power_levels")
        users = pl.get("users", {})
        mine = int(users.get(cfg.user_id, pl.get("users_default", 0)))
        missing = []
        for name, key in powers.items():
            if key == "events_default":
                need = int(pl.get("events", {}).get("m.room.message", pl.get("events_default", 0)))
            elif key.startswith("m."):
                need = int(pl.get("events", {}).get(key, pl.get("state_default", 50)))
            else:
                need = int(pl.get(key, 50))
            if mine < need:
                missing.append(f"{name} needs {need}")
        c.check(status == 200 and not missing, f"the bot has the power it needs in the {what} {room} (level {mine})",
                f"raise {cfg.user_id}'s power level in {room} (Room settings > Roles & Permissions): "
                + "; ".join(missing or ["power levels could not be read"]))


async def _admin(c: Checklist, api: _Api, cfg) -> None:
    status, _ = await api.call("GET", f"/_synapse/admin/v2/users/{quote(cfg.user_id, safe='')}")
    reports, _ = await api.call("GET", "/_synapse/admin/v1/event_reports?limit=1")
    c.check(status == 200 and reports == 200, "the Synapse admin API answers (quarantine, reports)",
            f"make {cfg.user_id} a server admin (synapse: UPDATE users SET admin = 1 WHERE name = "
            f"'{cfg.user_id}', or the admin API), make sure /_synapse/admin is reachable at matrix.homeserver, "
            "or set matrix.admin_api and matrix.suspend_local_accused to false")


async def _keys(c: Checklist, api: _Api, cfg, base_dir: Path) -> None:
    if not cfg.store_key:
        c.warn("end-to-end encryption", "matrix.store_key is not set, so the bot cannot read encrypted DMs: set it "
                                        "(from the environment) to turn encryption on")
        return
    store = Path(cfg.store_path)
    store = store if store.is_absolute() else base_dir / store
    local = sorted(store.glob("*.db")) if store.is_dir() else []
    status, keys = await api.call("POST", "/_matrix/client/v3/keys/query", {"device_keys": {cfg.user_id: []}})
    devices = (keys.get("device_keys") or {}).get(cfg.user_id) or {}
    c.check(bool(local) and bool(devices), "the bot's encryption keys are present (key store and published keys)",
            f"start the bot once so it creates and publishes its keys (key store: {store}); if the key store was "
            "lost, members must send their next message again after the bot's new device appears")
