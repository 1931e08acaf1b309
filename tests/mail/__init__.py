"""Tests of switchboard/mail/."""
