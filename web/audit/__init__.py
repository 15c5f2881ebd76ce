"""The audit trail: what happened to which deal or account, by whom; its API, page and retention job."""
