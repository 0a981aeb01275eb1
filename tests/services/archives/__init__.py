"""Tests for issue 3 archives: chronic cards, assistance, service log."""
