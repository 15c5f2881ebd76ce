"""Organizations and users: sign-in and out, passwords, throttling, roles, and the per-user session index."""
