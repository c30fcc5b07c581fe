"""The heavy-first order of tests/conftest.py: every module it names exists (a renamed module
would silently fall back to the end of the run), and the collection starts with them."""

import os

from tests.conftest import HEAVY_FIRST, pytest_collection_modifyitems

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_listed_module_exists_once():
    missing = [path for path in HEAVY_FIRST if not os.path.isfile(os.path.join(ROOT, path))]
    assert not missing, f"tests/module_costs.txt names modules that are gone: {missing}"
    assert len(set(HEAVY_FIRST)) == len(HEAVY_FIRST)


def test_listed_modules_come_first_in_their_order_and_keep_their_tests_order():
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    light = "tests/test_not_listed.py"
    ids = [f"{light}::a", f"{HEAVY_FIRST[1]}::b", f"{HEAVY_FIRST[0]}::c",
           f"{HEAVY_FIRST[1]}::a", f"{light}::b"]
    items = [Item(i) for i in ids]
    pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == [f"{HEAVY_FIRST[0]}::c", f"{HEAVY_FIRST[1]}::b",
                                        f"{HEAVY_FIRST[1]}::a", f"{light}::a", f"{light}::b"]
