"""Static files: fingerprinted addresses, cached as immutable; unfingerprinted ones revalidated."""

from __future__ import annotations

import re

import pytest

STATIC = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def static_addresses(html: str) -> list[str]:
    return [address.replace("&amp;", "&") for address in STATIC.findall(html)]


def test_every_static_file_of_a_patient_page_is_fingerprinted_and_immutable(client, make_patient):
    patient = make_patient()
    addresses = static_addresses(client.get(f"/p/{patient.token}/q/T0/who5").get_data(as_text=True))
    assert {a.split("?")[0] for a in addresses} >= {"/static/app.css", "/static/patient/patient.css",
                                                     "/static/patient/patient.js"}
    for address in addresses:
        assert re.search(r"\?v=[0-9a-f]{12}$", address), address
        with client.get(address) as response:
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", address


@pytest.mark.parametrize("path", ["/static/app.css", "/static/staff/staff.css", "/static/patient/patient.js",
                                  "/static/reports/dashboard.js"])
def test_without_its_fingerprint_a_static_file_is_revalidated(client, path):
    for address in (path, f"{path}?v=000000000000"):
        with client.get(address) as response:
            assert response.headers["Cache-Control"] == "no-cache"


def test_staff_pages_link_fingerprinted_static_files(client):
    addresses = static_addresses(client.get("/login").get_data(as_text=True))
    assert addresses and all("?v=" in a for a in addresses)


def test_a_changed_file_gets_a_new_address(app, tmp_path):
    from surveys.infra.static_files import fingerprint

    (tmp_path / "x.css").write_text("a {}")
    before = fingerprint(str(tmp_path), "x.css")
    (tmp_path / "x.css").write_text("a { color: red }")
    assert fingerprint(str(tmp_path), "x.css") != before
    assert fingerprint(str(tmp_path), "../etc/passwd") is None
