"""The shape of a CPR number as people write one, for finding and masking it in any text.

Apart from the CPR rules (``cpr.py``, vectorised over numpy and Arrow) so that the error
scrubber, which every process imports - the Airflow DAG processor among them - needs only
the standard library.
"""

from __future__ import annotations

import re

CPR_SHAPED = re.compile(r"(?<![0-9A-Fa-f])\d{2}([./ -]?)\d{2}\1\d{2}[ .-]?\d{4}(?![0-9A-Fa-f])")
"""Anything that could be a CPR number as people write one: ten digits, optionally with a
hyphen, space or dot after the sixth and one separator (dot, slash, space or hyphen) used
throughout the date (``DD.MM.YY-SSSS``), anywhere in a text. A lone separator after DDMM
(``2003-000123``: a year and a serial) is an id, not a CPR spelling. Not inside a longer
number, nor a run of digits within a hexadecimal pseudonym (a hex digit on either side). The
scrubber masks every match; it is deliberately wider than the set of valid numbers."""
