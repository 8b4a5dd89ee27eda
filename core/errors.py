"""The one error type for bad user input."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, field, value). Every CLI prints it as one line and exits 2.

    The message contract: "FILE: key 'a.b': what" (the file, the field, what is wrong)."""
