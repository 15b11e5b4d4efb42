"""Test set-up: make the tests folder importable for shared helpers."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
