"""Operator configuration: one YAML file, validated at load, secrets only from the environment.

Every key is documented in the shipped `config.yaml`. A value like `${DISCORD_TOKEN}` is replaced by
that environment variable. Secret keys (tokens, passwords, keys) must be written that way: a literal
secret in the file is refused, so the file can be shared and committed safely.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .yamlio import CONFIG_MAX_BYTES, CONFIG_MAX_VALUES, DataFileError, LoadedYaml, format_path, load_yaml, validate

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_KEYS = {
    ("discord", "token"),
    ("matrix", "password"),
    ("matrix", "access_token"),
    ("matrix", "store_key"),
    ("matrix", "synapse_module_secret"),
    ("storage", "key"),
    ("storage", "dsn"),
    ("storage", "audit_key"),
    ("media", "hma", "token"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(Strict):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    database: str = "data/safety-bot.sqlite3"
    dsn: str | None = None  # postgres: postgresql://user:password@host/db, from the environment
    synchronous: Literal["full", "normal", "extra"] = "full"
    key: str | None = None  # encryption key for data at rest (issue: hardening); from the environment
    audit_key: str | None = None  # audit chain key (HMAC links, Ed25519 signatures); kept apart from `key`
    lease_seconds: float = Field(30.0, ge=1.0, le=3600.0)  # postgres: how long a dead process holds its actions

    @model_validator(mode="after")
    def _postgres_needs_dsn_and_key(self):
        if self.backend == "postgres":
            if not self.dsn:
                raise ValueError("storage.dsn is required with backend postgres (e.g. dsn: ${DATABASE_URL})")
            if not self.key:
                raise ValueError("storage.key is required with backend postgres: every process must use the "
                                 "same key (key: ${SAFETY_BOT_KEY})")
        return self


class LimitsConfig(Strict):
    report_max_chars: int = Field(4000, ge=100, le=20000)
    note_max_chars: int = Field(2000, ge=50, le=20000)
    reports_per_hour: int = Field(10, ge=1, le=1000)
    mod_actions_per_hour: int = Field(30, ge=1, le=10000)


class StrikesConfig(Strict):
    timeout_at: int = Field(3, ge=1)
    timeout_minutes: int = Field(60, ge=1, le=40320)  # Discord caps timeouts at 28 days
    ban_at: int = Field(5, ge=1)
    decay_days: int = Field(90, ge=1)

    @model_validator(mode="after")
    def _order(self):
        if self.ban_at <= self.timeout_at:
            raise ValueError("ban_at must be larger than timeout_at")
        return self


class EscalationConfig(Strict):
    ack_minutes: int = Field(15, ge=1, le=1440)
    realerts: int = Field(3, ge=0, le=100)  # re-alerts every ack_minutes; after them, hourly until acknowledged
    remind_hours: int = Field(24, ge=1, le=24 * 30)  # a normal case unassigned this long reminds the team
    intake_idle_minutes: int = Field(30, ge=1, le=1440)


class RepliesConfig(Strict):
    show_moderator_name: bool = False


class RetentionConfig(Strict):
    closed_case_days: int = Field(180, ge=1, le=3650)


class HmaConfig(Strict):
    """An optional Hasher-Matcher-Actioner instance uploads are also checked against (bank_hma.py)."""

    url: str = Field(pattern=r"^https?://")  # its base URL; lookups go to <url>/m/lookup
    token: str | None = None  # bearer token, from the environment (${HMA_TOKEN})
    action: Literal["flag", "remove"] = "flag"  # what a match does (like a shared list's action)
    timeout_seconds: float = Field(3.0, gt=0, le=60)


class MediaConfig(Strict):
    max_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(40_000_000, ge=10_000)
    max_video_bytes: int = Field(50 * 1024 * 1024, ge=1024)  # videos larger than this are not downloaded or hashed
    match_index: bool = True  # multi-index for matching: ~10x faster at 1M hashes, ~61 more bytes per hash
    remove_distance: int = Field(31, ge=0, le=128)
    flag_distance: int = Field(52, ge=0, le=128)
    min_quality: int = Field(50, ge=0, le=100)
    flood_matches_per_hour: int = Field(20, ge=1)
    flood_uploaders: int = Field(3, ge=2)  # distinct uploaders of one entry within flood_window_hours: suspended
    flood_window_hours: float = Field(24, gt=0, le=24 * 30)
    hma: HmaConfig | None = None  # optional HMA lookup backend (issue 19)


class HttpConfig(Strict):
    listen: str | None = None  # off; "8080" listens on 127.0.0.1:8080, "ADDRESS:PORT" elsewhere
    outbox_stuck_minutes: int = Field(10, ge=1, le=1440)
    # The listener's address as members reach it (e.g. behind a reverse proxy): links to the "protect my
    # pictures" page start with it. Unset: the bot does not offer the page.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v):
        if v is not None and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError("must be an http(s) URL without query or fragment, like https://safety.example.org")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _public_url_needs_listen(self):
        if self.public_url and self.listen is None:
            raise ValueError("http.public_url needs http.listen (the listener members reach through that address)")
        return self

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, v):
        if v is None:
            return v
        from .http.address import parse_listen

        parse_listen(str(v))
        return str(v)


class ConsoleCommunity(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    network: str = "main"
    channels: list[str] = Field(default_factory=lambda: ["general"], min_length=1)
    safety_channel: str = "safety-team"
    escalation: str | None = None  # a member name (usually the owner) who gets cases about moderators
    members: list[str] = Field(default_factory=list)
    moderators: list[str] = Field(min_length=1)  # required: the safety team


class ConsoleConfig(Strict):
    communities: list[ConsoleCommunity] = Field(min_length=1)
    start_as: str | None = None
    locale: str = "en"

    @model_validator(mode="after")
    def _unique(self):
        ids = [c.id for c in self.communities]
        if len(ids) != len(set(ids)):
            raise ValueError("community ids must be unique")
        return self


class DiscordGuild(Strict):
    id: int
    safety_channel: int
    safety_role: int | None = None
    network: str = "main"
    escalation_channel: int | None = None
    escalation_user: int | None = None


class DiscordConfig(Strict):
    token: str
    guilds: list[DiscordGuild] = Field(min_length=1)
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    shard_count: int | None = Field(None, ge=1, le=10000)  # total shards across every process (None: unsharded)
    shard_ids: list[int] | None = None  # the shards this process runs (None: all of shard_count)
    automod: bool = False  # keep an AutoMod rule that blocks threat phrasings (needs Manage Server)
    # The bot's pace under Discord's global limit of 50 requests/s (interaction replies exempt); with shards
    # over several processes each takes its share (len(shard_ids) / shard_count).
    requests_per_second: float = Field(45, gt=0, le=50)

    @model_validator(mode="after")
    def _shards(self):
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("discord.shard_ids needs discord.shard_count")
            if not self.shard_ids or len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError("discord.shard_ids must list each shard once")
            wrong = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if wrong:
                raise ValueError(f"discord.shard_ids {wrong} must be between 0 and shard_count - 1 "
                                 f"({self.shard_count - 1})")
        return self

    def shard_of(self, guild_id: int) -> int:
        """Discord's rule: a guild's events arrive on shard (guild_id >> 22) % shard_count."""
        return (guild_id >> 22) % self.shard_count if self.shard_count else 0

    def owns(self, guild_id: int) -> bool:
        """Whether this process receives the guild's events (DMs arrive on shard 0)."""
        return self.shard_ids is None or self.shard_of(guild_id) in self.shard_ids

    @field_validator("api_base_url")
    @classmethod
    def _api(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", v):
            raise ValueError("must be an http(s) URL like https://discord.com/api/v10")
        return v.rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _gw(cls, v: str) -> str:
        if not re.match(r"^wss?://[^\s/]+(/\S*)?$", v):
            raise ValueError("must be a ws(s) URL like wss://gateway.discord.gg/")
        return v


class MatrixConfig(Strict):
    homeserver: str
    user_id: str = Field(pattern=r"^@[^:\s]+:\S+$")
    password: str | None = None
    access_token: str | None = None
    device_id: str | None = None
    store_path: str = "data/matrix-store"
    store_key: str | None = None
    # Room ids of version 12+ rooms have no server part ("!<hash>"); aliases always do.
    management_room: str = Field(pattern=r"^(![^:\s]+(:\S+)?|#[^:\s]+:\S+)$")
    protected_rooms: list[str] = Field(default_factory=list)
    policy_room: str | None = None
    escalation_room: str | None = None
    admin_api: bool = False
    # Ban of an accused on the bot's own homeserver: suspend the account first (admin API; they can no
    # longer send anywhere on the server), then ban room by room. Lifted only by `unsuspend`.
    suspend_local_accused: bool = False
    # The Synapse module (adapters/matrix/synapse_module.py) asks the bot over the HTTP listener; this is
    # the secret both sides hold. Set: the listener answers the module (needs http.listen).
    synapse_module_secret: str | None = Field(None, min_length=16)
    mod_power_level: int = Field(50, ge=0, le=9007199254740991)
    network: str = "matrix"
    report_poll_seconds: float = Field(5.0, gt=0, le=10)

    @model_validator(mode="after")
    def _auth(self):
        if not (self.password or self.access_token):
            raise ValueError("set matrix.password or matrix.access_token (from the environment)")
        return self


class Config(Strict):
    storage: StorageConfig = StorageConfig()
    playbooks: str = "playbooks"
    locale: str = "en"
    exports_dir: str = "exports"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    http: HttpConfig = HttpConfig()
    limits: LimitsConfig = LimitsConfig()
    strikes: StrikesConfig = StrikesConfig()
    escalation: EscalationConfig = EscalationConfig()
    replies: RepliesConfig = RepliesConfig()
    retention: RetentionConfig = RetentionConfig()
    media: MediaConfig = MediaConfig()
    console: ConsoleConfig | None = None
    discord: DiscordConfig | None = None
    matrix: MatrixConfig | None = None
    # Set by the loader, not by the file: the folder relative paths are resolved against.
    base_dir: str = "."

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p


def _substitute(value: Any, path: tuple, loaded: LoadedYaml, env: dict, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, path + (k,), loaded, env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path + (i,), loaded, env, problems) for i, v in enumerate(value)]
    is_secret = path in SECRET_KEYS
    if isinstance(value, str):
        if is_secret and not _VAR.fullmatch(value.strip()):
            problems.append(
                f"{loaded.where(path)}: secrets must come from the environment; "
                f"write ${{SOME_VARIABLE}} here and set that variable"
            )
            return value

        def repl(m: re.Match) -> str:
            name = m.group(1)
            if name not in env or env[name] == "":
                problems.append(f"{loaded.where(path)}: environment variable {name} is not set")
                return ""
            return env[name]

        return _VAR.sub(repl, value)
    if is_secret and value is not None:
        problems.append(f"{loaded.where(path)}: secrets must come from the environment (${{VARIABLE}})")
    return value


def load_config(file: str | Path, env: dict | None = None) -> Config:
    """Load and validate the operator's config; raises DataFileError naming file, line and key."""
    env = dict(os.environ) if env is None else env
    loaded = load_yaml(file, max_bytes=CONFIG_MAX_BYTES, max_values=CONFIG_MAX_VALUES)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise DataFileError([f"{loaded.file}:1: the config must be a mapping of keys to values"])
    problems: list[str] = []
    data = _substitute(data, (), loaded, env, problems)
    if problems:
        raise DataFileError(problems)
    if "base_dir" in data:
        raise DataFileError([f"{loaded.where(('base_dir',))}: unknown key (check the spelling; see the documented keys)"])
    data["base_dir"] = str(Path(file).resolve().parent)
    config = validate(Config, loaded, data)
    _cross_checks(config, loaded)
    return config


def _cross_checks(config: Config, loaded: LoadedYaml) -> None:
    problems = []
    if config.console:
        for i, c in enumerate(config.console.communities):
            people = set(c.members) | set(c.moderators)
            if c.escalation and c.escalation not in people:
                problems.append(f"{loaded.where(('console', 'communities', i, 'escalation'))}: "
                                f"'{c.escalation}' is not a member or moderator of {c.id}")
        everyone = {p for c in config.console.communities for p in (*c.members, *c.moderators)}
        if config.console.start_as and config.console.start_as not in everyone:
            problems.append(f"{loaded.where(('console', 'start_as'))}: '{config.console.start_as}' is not in any community")
    if config.discord:
        ids = [g.id for g in config.discord.guilds]
        if len(ids) != len(set(ids)):
            problems.append(f"{loaded.where(('discord', 'guilds'))}: a guild is listed twice")
        for i, g in enumerate(config.discord.guilds):  # commands there count as the escalation destination's
            if g.escalation_channel is not None and g.escalation_channel == g.safety_channel:
                problems.append(f"{loaded.where(('discord', 'guilds', i, 'escalation_channel'))}: must not be the "
                                "safety channel (cases about the team go there, and it acts for the team)")
    if config.matrix and config.matrix.escalation_room and config.matrix.escalation_room == config.matrix.management_room:
        problems.append(f"{loaded.where(('matrix', 'escalation_room'))}: must not be the management room (cases "
                        "about the team go there, and it acts for the team)")
    if config.matrix and config.matrix.synapse_module_secret and config.http.listen is None:
        problems.append(f"{loaded.where(('matrix', 'synapse_module_secret'))}: the Synapse module reaches the bot "
                        "through the HTTP listener: set http.listen too (e.g. 127.0.0.1:8080)")
    if config.media.flag_distance < config.media.remove_distance:
        problems.append(f"{loaded.where(('media', 'flag_distance'))}: must be at least media.remove_distance")
    if problems:
        raise DataFileError(problems)


__all__ = ["Config", "DataFileError", "load_config", "format_path"]
