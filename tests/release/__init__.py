"""Tests of ocipush.release."""
