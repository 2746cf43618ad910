"""Tests of ocipush.registry."""
