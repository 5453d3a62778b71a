"""A made-up but realistic province directory for tests and benchmarks.

``province_rows(1000)`` builds a deterministic province of about that many units
with Vietnamese names: the provincial people's committee, its departments (sở,
ban, ngành) and their sub-departments (chi cục), the districts with their
offices (phòng), and communes, wards and towns. It includes what real files
have: aliases, an IDN alias, senders, a merged commune forwarding to its
successor, English names, phones and web sites.
"""

from __future__ import annotations

import csv
import io
import random

from mailbase import fold

DOMAIN = "laocai.gov.vn"
ROOT = "ubnd-tinh"

COLUMNS = [
    "id", "name", "parent", "address", "short_name", "name_en", "kind", "aliases",
    "dkim_domain", "phone", "website", "active", "senders", "successor",
]

DEPARTMENTS = [
    ("van-phong-ubnd", "Văn phòng UBND tỉnh", "VP", "Office of the Provincial People's Committee"),
    ("so-tai-chinh", "Sở Tài chính", "STC", "Department of Finance"),
    ("so-ke-hoach-dau-tu", "Sở Kế hoạch và Đầu tư", "SKHĐT",
     "Department of Planning and Investment"),
    ("so-noi-vu", "Sở Nội vụ", "SNV", "Department of Home Affairs"),
    ("so-tu-phap", "Sở Tư pháp", "STP", "Department of Justice"),
    ("so-cong-thuong", "Sở Công Thương", "SCT", "Department of Industry and Trade"),
    ("so-nong-nghiep", "Sở Nông nghiệp và Phát triển nông thôn", "SNN",
     "Department of Agriculture and Rural Development"),
    ("so-giao-thong", "Sở Giao thông vận tải", "SGTVT", "Department of Transport"),
    ("so-xay-dung", "Sở Xây dựng", "SXD", "Department of Construction"),
    ("so-tai-nguyen", "Sở Tài nguyên và Môi trường", "STNMT",
     "Department of Natural Resources and Environment"),
    ("so-thong-tin", "Sở Thông tin và Truyền thông", "STTTT",
     "Department of Information and Communications"),
    ("so-lao-dong", "Sở Lao động - Thương binh và Xã hội", "SLĐTBXH",
     "Department of Labour, Invalids and Social Affairs"),
    ("so-van-hoa", "Sở Văn hóa, Thể thao và Du lịch", "SVHTTDL",
     "Department of Culture, Sports and Tourism"),
    ("so-khoa-hoc", "Sở Khoa học và Công nghệ", "SKHCN", "Department of Science and Technology"),
    ("so-giao-duc", "Sở Giáo dục và Đào tạo", "SGDĐT", "Department of Education and Training"),
    ("so-y-te", "Sở Y tế", "SYT", "Department of Health"),
    ("so-ngoai-vu", "Sở Ngoại vụ", "SNgV", "Department of Foreign Affairs"),
    ("thanh-tra-tinh", "Thanh tra tỉnh", "TTT", "Provincial Inspectorate"),
    ("ban-dan-toc", "Ban Dân tộc", "BDT", "Ethnic Minorities Committee"),
    ("ban-quan-ly-kcn", "Ban Quản lý các khu công nghiệp", "BQLKCN",
     "Industrial Zones Management Board"),
    ("dai-phat-thanh", "Đài Phát thanh và Truyền hình tỉnh", "PTTH", "Radio and Television"),
    ("ban-qlda", "Ban Quản lý dự án đầu tư xây dựng", "BQLDA",
     "Construction Investment Project Management Board"),
    ("truong-cao-dang", "Trường Cao đẳng Lào Cai", "CĐLC", "Lao Cai College"),
    ("bo-chi-huy-quan-su", "Bộ Chỉ huy Quân sự tỉnh", "BCHQS", "Provincial Military Command"),
    ("trung-tam-hanh-chinh-cong", "Trung tâm Phục vụ hành chính công", "TTHCC",
     "Public Administration Service Centre"),
]

SUB_DEPARTMENTS = [
    ("so-nong-nghiep", "chi-cuc-kiem-lam", "Chi cục Kiểm lâm"),
    ("so-nong-nghiep", "chi-cuc-thuy-loi", "Chi cục Thủy lợi"),
    ("so-nong-nghiep", "chi-cuc-chan-nuoi", "Chi cục Chăn nuôi và Thú y"),
    ("so-nong-nghiep", "chi-cuc-trong-trot", "Chi cục Trồng trọt và Bảo vệ thực vật"),
    ("so-y-te", "chi-cuc-attp", "Chi cục An toàn vệ sinh thực phẩm"),
    ("so-y-te", "chi-cuc-dan-so", "Chi cục Dân số - Kế hoạch hóa gia đình"),
    ("so-y-te", "cdc", "Trung tâm Kiểm soát bệnh tật"),
    ("so-tai-nguyen", "chi-cuc-bvmt", "Chi cục Bảo vệ môi trường"),
    ("so-tai-nguyen", "vp-dang-ky-dat-dai", "Văn phòng Đăng ký đất đai"),
    ("so-noi-vu", "ban-thi-dua", "Ban Thi đua - Khen thưởng"),
    ("so-noi-vu", "chi-cuc-van-thu", "Chi cục Văn thư - Lưu trữ"),
    ("so-cong-thuong", "chi-cuc-qltt", "Cục Quản lý thị trường"),
]

DISTRICTS = [
    ("tp-lao-cai", "Thành phố Lào Cai"), ("tx-sa-pa", "Thị xã Sa Pa"),
    ("bat-xat", "Huyện Bát Xát"), ("muong-khuong", "Huyện Mường Khương"),
    ("si-ma-cai", "Huyện Si Ma Cai"), ("bac-ha", "Huyện Bắc Hà"),
    ("bao-thang", "Huyện Bảo Thắng"), ("bao-yen", "Huyện Bảo Yên"), ("van-ban", "Huyện Văn Bàn"),
]

OFFICES = [
    ("vp", "Văn phòng HĐND và UBND"), ("tckh", "Phòng Tài chính - Kế hoạch"),
    ("nv", "Phòng Nội vụ"), ("tp", "Phòng Tư pháp"), ("gddt", "Phòng Giáo dục và Đào tạo"),
    ("yt", "Phòng Y tế"), ("tnmt", "Phòng Tài nguyên và Môi trường"),
    ("ldtbxh", "Phòng Lao động - Thương binh và Xã hội"),
    ("vhtt", "Phòng Văn hóa và Thông tin"), ("ktht", "Phòng Kinh tế - Hạ tầng"),
    ("nn", "Phòng Nông nghiệp và Phát triển nông thôn"), ("tt", "Thanh tra"),
]

SYLLABLES = [
    "An", "Bình", "Phú", "Tân", "Hòa", "Thạnh", "Đông", "Tây", "Phước", "Long", "Hưng",
    "Mỹ", "Thuận", "Lộc", "Quang", "Trung", "Nghĩa", "Đức", "Sơn", "Thủy", "Hải", "Hồng",
    "Xuân", "Kim", "Ngọc", "Cẩm", "Vĩnh", "Lạc", "Yên", "Thái", "Bản", "Mường", "Nậm",
]


def slug(text: str) -> str:
    """An id-safe slug of Vietnamese text ("Sở Tài chính" -> "so-tai-chinh")."""
    folded = fold(text)
    return "-".join("".join(c for c in word if c.isalnum()) for word in folded.split()
                    if any(c.isalnum() for c in word))


def _row(**cells: str) -> dict[str, str]:
    return {column: cells.get(column, "") for column in COLUMNS}


def province_rows(units: int = 1000, *, seed: int = 2026) -> list[dict[str, str]]:
    """About ``units`` rows (exactly, when ``units`` >= 200) of a made-up province."""
    rng = random.Random(seed)
    rows = [_row(
        id=ROOT, name="Ủy ban nhân dân tỉnh Lào Cai", address=f"ubnd@{DOMAIN}",
        short_name="UBND tỉnh", name_en="Lao Cai Provincial People's Committee",
        kind="province", aliases=f"vanthu@{DOMAIN};ubnd@lào-cai.gov.vn", dkim_domain=DOMAIN,
        phone="0214 3840 888", website=f"https://{DOMAIN}", senders="vanthu.ubnd;admin",
    )]
    for unit_id, name, short, english in DEPARTMENTS:
        rows.append(_row(
            id=unit_id, name=name, parent=ROOT, address=f"{unit_id}@{DOMAIN}",
            short_name=short, name_en=english, kind="department",
            aliases=f"vanthu.{unit_id}@{DOMAIN}", dkim_domain=DOMAIN,
            phone=f"0214 38{rng.randrange(10000, 99999)}",
            website=f"https://{unit_id}.{DOMAIN}", senders=f"vt.{unit_id};ld.{unit_id}",
        ))
    for parent, unit_id, name in SUB_DEPARTMENTS:
        rows.append(_row(
            id=unit_id, name=name, parent=parent, address=f"{unit_id}@{DOMAIN}",
            kind="sub-department", dkim_domain=DOMAIN, senders=f"vt.{unit_id}",
        ))
    for district_id, name in DISTRICTS:
        rows.append(_row(
            id=district_id, name=f"UBND {name}", parent=ROOT,
            address=f"ubnd@{district_id}.{DOMAIN}", kind="district",
            dkim_domain=f"{district_id}.{DOMAIN}", senders=f"vt.{district_id}",
            phone=f"0214 36{rng.randrange(10000, 99999)}",
        ))
        for office_id, office in OFFICES:
            rows.append(_row(
                id=f"{district_id}-{office_id}", name=f"{office} {name.split(' ', 1)[1]}",
                parent=district_id, address=f"{office_id}@{district_id}.{DOMAIN}",
                kind="district-office", dkim_domain=f"{district_id}.{DOMAIN}",
            ))
    used: set[str] = set()
    index = 0
    while len(rows) < units:
        district_id, _district = DISTRICTS[index % len(DISTRICTS)]
        index += 1
        prefix = rng.choice(["Xã", "Xã", "Xã", "Phường", "Thị trấn"])
        words = rng.sample(SYLLABLES, 2)
        name = f"{prefix} {' '.join(words)}"
        unit_id = f"{district_id}-{slug(name)}"
        if unit_id in used:
            unit_id, name = f"{unit_id}-{index}", f"{name} {index}"
        used.add(unit_id)
        local = unit_id.removeprefix(f"{district_id}-")
        rows.append(_row(
            id=unit_id, name=name, parent=district_id,
            address=f"{local}@{district_id}.{DOMAIN}",
            kind="ward" if prefix == "Phường" else "commune",
            dkim_domain=f"{district_id}.{DOMAIN}", senders=f"vt.{unit_id}",
        ))
    # a commune merged into its neighbour: inactive, its address forwards
    merged, successor = rows[-1], rows[-2]
    merged.update(active="no", successor=successor["id"], senders="")
    return rows


def to_csv(
    rows: list[dict[str, str]], *, columns: list[str] | None = None, bom: bool = False,
    delimiter: str = ",",
) -> str:
    """The rows as CSV text, as a spreadsheet saves it (CRLF, quoting where needed)."""
    out = io.StringIO(newline="")
    names = columns or COLUMNS
    writer = csv.DictWriter(out, names, delimiter=delimiter, lineterminator="\r\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


def province_csv(units: int = 1000, *, bom: bool = False) -> str:
    """``to_csv(province_rows(units))``."""
    return to_csv(province_rows(units), bom=bom)
