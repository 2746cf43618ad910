"""Tests of ocipush.oci."""
