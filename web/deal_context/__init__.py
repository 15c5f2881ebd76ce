"""The persistent deal context: which deal a user is working on, restored, cached and kept in step."""
