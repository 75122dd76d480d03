"""Numbered schema migrations, recorded in the database's `schema_version` table.

Append new steps; never edit a released one. A database newer than the code is refused.
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            community TEXT NOT NULL,
            network TEXT NOT NULL,
            number INTEGER NOT NULL,
            category TEXT NOT NULL,
            urgency TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            reporter TEXT,
            accused TEXT NOT NULL DEFAULT '[]',
            assignee TEXT,
            close_reason TEXT,
            answers TEXT,
            flags TEXT NOT NULL DEFAULT '{}',
            hidden_from TEXT NOT NULL DEFAULT '[]',
            locale TEXT NOT NULL DEFAULT 'en',
            alias TEXT NOT NULL DEFAULT '',
            UNIQUE (community, number)
        );
        CREATE TABLE case_accused (
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            network TEXT NOT NULL,
            user_key TEXT NOT NULL
        );
        CREATE INDEX case_accused_by_user ON case_accused (network, user_key);
        CREATE TABLE reports (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            reporter_tag TEXT,
            reporter TEXT,
            text TEXT,
            source TEXT NOT NULL,
            created_at REAL NOT NULL,
            reported_message TEXT,
            locale TEXT NOT NULL DEFAULT 'en'
        );
        CREATE INDEX reports_by_reporter ON reports (reporter_tag, created_at);
        CREATE INDEX reports_by_case ON reports (case_id);
        CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            ref TEXT,
            author TEXT,
            text TEXT,
            message_created_at REAL,
            captured_at REAL NOT NULL,
            captured_by TEXT NOT NULL,
            attachments TEXT NOT NULL DEFAULT '[]',
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX evidence_by_case ON evidence (case_id);
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            author TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX notes_by_case ON notes (case_id);
        CREATE TABLE strikes (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            user_key TEXT NOT NULL,
            reason TEXT NOT NULL,
            at REAL NOT NULL,
            by TEXT NOT NULL,
            case_id INTEGER
        );
        CREATE INDEX strikes_by_user ON strikes (network, user_key);
        CREATE TABLE bans (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            user_key TEXT NOT NULL,
            case_id INTEGER,
            at REAL NOT NULL,
            by TEXT NOT NULL,
            reason TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX bans_by_user ON bans (network, user_key, active);
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            community TEXT NOT NULL DEFAULT '',
            case_id INTEGER,
            detail TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_by_case ON audit (case_id);
        CREATE TABLE intakes (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            asked TEXT NOT NULL DEFAULT '[]',
            current TEXT,
            locale TEXT NOT NULL DEFAULT 'en',
            updated_at REAL NOT NULL,
            PRIMARY KEY (platform, user_id)
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            action TEXT NOT NULL,
            case_id INTEGER,
            status TEXT NOT NULL DEFAULT 'pending',
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbox_pending ON outbox (status);
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "hash bank",
        """
        CREATE TABLE bank_entries (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            category TEXT NOT NULL,
            status TEXT NOT NULL,
            quality INTEGER NOT NULL DEFAULT 0,
            pdq TEXT,
            sha256 TEXT,
            md5 TEXT,
            case_id INTEGER,
            case_number INTEGER,
            community TEXT NOT NULL DEFAULT '',
            added_by TEXT NOT NULL,
            added_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX bank_entries_by_network ON bank_entries (network, status);
        CREATE INDEX bank_entries_by_case ON bank_entries (case_id);
        """,
    ),
    (
        3,
        "outbox leases",
        """
        ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
        ALTER TABLE outbox ADD COLUMN lease_until REAL;
        """,
    ),
    (
        4,
        "shared lists",
        """
        CREATE TABLE shared_lists (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            network TEXT NOT NULL,
            source TEXT NOT NULL,
            action TEXT NOT NULL,
            added_by TEXT NOT NULL,
            added_at REAL NOT NULL,
            public_key TEXT,
            every_seconds REAL NOT NULL DEFAULT 0,
            etag TEXT,
            last_modified TEXT,
            last_fetch REAL,
            last_error TEXT NOT NULL DEFAULT '',
            size INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE shared_list_items (
            id INTEGER PRIMARY KEY,
            list_id INTEGER NOT NULL REFERENCES shared_lists(id) ON DELETE CASCADE,
            item_key TEXT NOT NULL,
            entry_id INTEGER,
            value TEXT,
            UNIQUE (list_id, item_key)
        );
        CREATE INDEX shared_list_items_by_entry ON shared_list_items (entry_id);
        """,
    ),
    (
        5,
        "bank entry kind (image or video)",
        """
        ALTER TABLE bank_entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'image';
        """,
    ),
    (
        6,
        "two-person confirmations kept in the store; note authors' display names",
        """
        CREATE TABLE pending_confirmations (
            code TEXT PRIMARY KEY,
            community TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX pending_confirmations_by_expiry ON pending_confirmations (expires_at);
        ALTER TABLE notes ADD COLUMN author_name TEXT;
        """,
    ),
    (
        7,
        "shared hash lists keep a category (adult or minor) for their entries",
        """
        ALTER TABLE shared_lists ADD COLUMN category TEXT NOT NULL DEFAULT 'adult';
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]
