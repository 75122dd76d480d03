"""Protect my pictures: a member blocks their own pictures in the community from their own device
(one-time link, a static page hashing in the browser, hash-bank entries on their case)."""
