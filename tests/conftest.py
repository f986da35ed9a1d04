import os
import sys

# Make tests/_util.py importable as a plain module whatever the import mode.
sys.path.insert(0, os.path.dirname(__file__))

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
