#!/usr/bin/python3
"""status_dom.py - read the relay status page's DOM (Chromium's --dump-dom).

    status_dom.py FILE ID [rows]

the text of the element with id ID, or the cells of its table's body
("a|b|c" a row, each cell with ":class" when it has one); FILE @ATTR: an
attribute of <body>; @ID:ATTR of element ID.  relay_lib.sh's dom runs it.
"""
import sys
from html.parser import HTMLParser

VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"}

class P(HTMLParser):
    def __init__(self, want):
        super().__init__()
        self.want, self.depth, self.text, self.body = want, 0, [], {}
        self.rows, self.row, self.cell, self.inbody = [], None, None, False
        self.attrs = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if a.get("id"):
            self.attrs[a["id"]] = a
        if tag in VOID:
            return
        if self.depth:
            self.depth += 1
            if tag == "tbody":
                self.inbody = True
            elif tag == "tr" and self.inbody:
                self.row = []
            elif tag == "td" and self.row is not None:
                self.cell = ["", a.get("class") or ""]
        elif a.get("id") == self.want:
            self.depth = 1

    def handle_endtag(self, tag):
        if not self.depth or tag in VOID:
            return
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell[0] + (":" + self.cell[1] if self.cell[1] else ""))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append("|".join(self.row))
            self.row = None
        self.depth -= 1

    def handle_data(self, d):
        if self.depth:
            self.text.append(d)
            if self.cell is not None:
                self.cell[0] += d

want = sys.argv[2]
p = P(want)
p.feed(open(sys.argv[1], encoding="utf-8").read())
if want.startswith("@") and ":" in want:
    i, a = want[1:].split(":", 1)
    print(p.attrs.get(i, {}).get(a, ""))
elif want.startswith("@"):
    print(p.body.get(want[1:], ""))
elif len(sys.argv) > 3:
    print("\n".join(p.rows))
else:
    print("".join(p.text).strip())
