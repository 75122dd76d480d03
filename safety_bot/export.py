"""Evidence bundles: one JSON file per case for a platform's trust & safety team or the police.

Written on the bot's own host (never uploaded to a chat platform). The bundle carries the case's
audit entries with their links, the signed head of the whole audit log, and an Ed25519 signature over
everything else: `safety-bot verify-audit --export FILE --public-key KEY` checks it with only the public
key that `safety-bot audit-key` prints (no database needed).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .audit_chain import Head, canonical, signature_ok
from .domain import Case

FORMAT = "safety-bot-case-export/1"


async def build_bundle(store, case: Case) -> dict:
    reports = await store.reports_for(case.id)
    evidence = await store.evidence_for(case.id)
    notes = await store.notes_for(case.id)
    audit = await store.audit_entries(case.id)
    reporter = None
    if case.reporter is not None:
        reporter = {"alias": case.alias} if case.anonymous else {**case.reporter.to_dict(), "alias": case.alias}
    bundle = {
        "format": FORMAT,
        "exported_at": time.time(),
        "case": {
            "community": case.community, "network": case.network, "number": case.number,
            "category": case.category, "urgency": case.urgency.value, "status": case.status.value,
            "close_reason": case.close_reason.value if case.close_reason else None,
            "created_at": case.created_at, "updated_at": case.updated_at,
            "reporter": reporter, "accused": [a.to_dict() for a in case.accused],
            "assignee": case.assignee.to_dict() if case.assignee else None,
            "answers": case.answers, "consent": case.flags.get("consent"),
        },
        "reports": [{"text": r.text, "source": r.source, "created_at": r.created_at,
                     "reported_message": r.reported_message.to_dict() if r.reported_message else None} for r in reports],
        "evidence": [{"message": e.ref.to_dict() if e.ref else None, "author": e.author.to_dict() if e.author else None,
                      "text": e.text, "message_created_at": e.message_created_at, "captured_at": e.captured_at,
                      "captured_by": e.captured_by, "attachments": e.attachments, "note": e.note} for e in evidence],
        "notes": [{"kind": n.kind, "author": n.author, "text": n.text, "at": n.at} for n in notes],
        "audit": [_audit_entry(a, case) for a in audit],
    }
    chain = store.audit_chain
    head = chain.read_head()
    if head is not None:
        bundle["audit_head"] = head.to_dict()
    bundle["signature"] = {"algorithm": "ed25519", "public_key": chain.keys.public_text(),
                           "value": chain.keys.sign(canonical(bundle))}
    return bundle


def verify_bundle(bundle: dict, public) -> list[str]:
    """Problems with a bundle, checked with the exporter's Ed25519 public key only; [] when it holds."""
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        return ["unsigned: the bundle carries no signature (it was not exported by this version, or it was removed)"]
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    problems = []
    if not signature_ok(public, canonical(unsigned), signature["value"]):
        problems.append("forged or altered: the signature does not match this bundle and the given public key "
                        "(something in it was changed after export, or another key signed it)")
    head = bundle.get("audit_head")
    if head is not None:
        try:
            if not Head.from_dict(head).valid(public):
                problems.append("the audit head in the bundle is not signed by this key")
        except ValueError as exc:
            problems.append(f"the audit head in the bundle is malformed ({exc})")
    return problems


def _audit_entry(a, case: Case) -> dict:
    entry = {"seq": a.seq, "at": a.at, "actor": a.actor, "action": a.action, "community": a.community,
             "case_id": a.case_id, "detail": a.detail, "prev_hash": a.prev_hash, "hash": a.hash}
    if case.reporter is not None and case.anonymous and a.actor == case.reporter.key:
        # Entries written before the log used the alias: the anonymous reporter's account stays out of the
        # bundle. This entry's hash can then not be recomputed by the recipient; the field says so.
        entry["actor"] = f"reporter:{case.alias}"
        entry["actor_withheld"] = True
    return entry


def write_bundle(folder: Path, bundle: dict) -> Path:
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    c = bundle["case"]
    path = folder / f"case-{c['community']}-{c['number']}-{int(time.time())}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        json.dump(bundle, fh, indent=2, ensure_ascii=False)
    return path
