"""AES-GCM nonces (crypto.Cipher): a random 64-bit field and a 32-bit counter. A nonce must never repeat
under one key: not within a process, not after 2**32 encryptions, not in a forked child, not in a copy."""

import base64
import copy
import itertools
import os
import pickle

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from safety_bot.crypto import PREFIX, Cipher, WrongKey

KEY = bytes(range(32))


def nonce_of(value: str) -> bytes:
    return base64.b64decode(value[len(PREFIX):])[:12]


def test_values_are_as_before_and_every_nonce_is_new():
    cipher = Cipher(KEY)
    values = [cipher.encrypt(f"statement {i}") for i in range(5000)]
    assert len({nonce_of(v) for v in values}) == len(values)
    raw = base64.b64decode(values[7][len(PREFIX):])  # the stored form is unchanged: enc1: base64(nonce + sealed)
    assert AESGCM(KEY).decrypt(raw[:12], raw[12:], None) == b"statement 7"
    assert all(cipher.decrypt(v) == f"statement {i}" for i, v in enumerate(values))
    assert Cipher(KEY).decrypt(values[0]) == "statement 0"  # another instance, same key
    with pytest.raises(WrongKey):
        Cipher(bytes(32)).decrypt(values[0])
    with pytest.raises(WrongKey):
        cipher.decrypt(PREFIX + "not base64 at all ü")


def test_two_ciphers_with_one_key_draw_their_own_fields():
    a, b = Cipher(KEY), Cipher(KEY)
    assert {nonce_of(a.encrypt("x")) for _ in range(100)}.isdisjoint({nonce_of(b.encrypt("x")) for _ in range(100)})


def test_a_spent_counter_draws_a_new_field():
    cipher = Cipher(KEY)
    field, _counter, forks = cipher._nonce_state
    cipher._nonce_state = (field, itertools.count(2**32 - 2), forks)  # two nonces left on this field
    values = [cipher.encrypt(str(i)) for i in range(4)]
    nonces = [nonce_of(v) for v in values]
    assert nonces[0] == field + (2**32 - 2).to_bytes(4, "big") and nonces[1] == field + (2**32 - 1).to_bytes(4, "big")
    assert nonces[2][:8] != field and nonces[3][:8] == nonces[2][:8] and len(set(nonces)) == 4
    assert [cipher.decrypt(v) for v in values] == ["0", "1", "2", "3"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_does_not_continue_its_parents_count():
    cipher = Cipher(KEY)
    cipher.encrypt("before the fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next nonces, to the parent
        try:
            os.write(write, b"".join(nonce_of(cipher.encrypt("child")) for _ in range(3)))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while len(child) < 36:
        chunk = os.read(read, 36)
        if not chunk:
            break
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = [nonce_of(cipher.encrypt("parent")) for _ in range(3)]
    child_nonces = [child[i:i + 12] for i in range(0, 36, 12)]
    assert len(child_nonces) == 3 and set(child_nonces).isdisjoint(parent)
    assert child_nonces[0][:8] != parent[0][:8]


def test_a_cipher_cannot_be_copied_with_its_count():
    cipher = Cipher(KEY)
    with pytest.raises(TypeError):
        copy.deepcopy(cipher)
    with pytest.raises(TypeError):
        pickle.dumps(cipher)
