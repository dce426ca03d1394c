"""Fetching a client's http(s) URL safely: the guard (guard.py: public addresses only, allowed
ports, DNS checked once and pinned) and the bounded fetch through it (fetch.py: bytes, time,
redirects). Below both users: the Lambda's doors (frontend/) and the jobs' plan step (jobs/)."""
