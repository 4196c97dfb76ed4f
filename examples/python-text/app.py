"""The pytext tool: CSV, JSON and text utilities (see wit/pytext.wit).

componentize-py generates the `wit_world` module from the WIT at build time;
this file implements its `WitWorld` protocol, one method per exported
function. A WIT `result<T, string>` is returned by returning T, and its error
by raising `Err(message)`.
"""

import csv
import io
import json
import re
from collections import Counter
from typing import List, Optional

import wit_world
from componentize_py_types import Err

WORD = re.compile(r"[\w']+")


def read_rows(text: str, delimiter: str) -> List[List[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    except csv.Error as error:
        raise Err(f"the CSV is malformed: {error}")


class WitWorld(wit_world.WitWorld):
    def csv_to_json(self, csv: str, delimiter: Optional[str]) -> str:
        delimiter = "," if delimiter is None else delimiter
        if len(delimiter) != 1:
            raise Err(f"the delimiter must be one character, not {delimiter!r}")
        rows = read_rows(csv, delimiter)
        if not rows:
            raise Err("the CSV is empty: it needs a header row naming the columns")
        header, data = rows[0], rows[1:]
        for number, row in enumerate(data, start=2):
            if len(row) != len(header):
                raise Err(
                    f"row {number} has {len(row)} fields but the header names {len(header)} columns"
                )
        return json.dumps([dict(zip(header, row)) for row in data], ensure_ascii=False)

    def csv_summary(self, csv: str) -> wit_world.TableSummary:
        rows = read_rows(csv, ",")
        if not rows:
            raise Err("the CSV is empty: it needs a header row naming the columns")
        return wit_world.TableSummary(rows=len(rows) - 1, columns=rows[0])

    def json_format(self, document: str, indent: int) -> str:
        if indent > 8:
            raise Err(f"indent must be 0 to 8, not {indent}")
        try:
            value = json.loads(document)
        except json.JSONDecodeError as error:
            raise Err(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}")
        if indent == 0:
            return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)

    def top_words(self, text: str, top: int) -> List[wit_world.WordFrequency]:
        counts = Counter(word.lower() for word in WORD.findall(text))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
        return [wit_world.WordFrequency(word=word, count=count) for word, count in ranked]
