"""Tests of ocipush.testing."""
