"""A valid attributes object of every asset class, for the demo and benchmarks.

Realistic values that pass ``listings.attributes`` validation; callers copy
before changing them (``attributes_of`` does).
"""

from __future__ import annotations

import copy
from typing import Any

SAMPLE_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "land_use_right": {
        "parcel_code": "苏园土挂(2026)12号",
        "location": "苏州工业园区星湖街东、港田路南",
        "admin_division_code": "320571",
        "area_m2": "35210.50",
        "land_use": "mixed",
        "mixed_use_shares": {"residential": "0.7", "commercial": "0.3"},
        "plot_ratio": {"min": "1.0", "max": "2.5"},
        "building_density": "0.30",
        "green_ratio": "0.35",
        "term_years": 50,
        "supply_mode": "transfer",
        "standard_land": {
            "investment_wan_yuan_per_mu": "500",
            "output_wan_yuan_per_mu": "800",
            "tax_wan_yuan_per_mu": "50",
            "energy_tce_per_wan_yuan": "0.25",
        },
    },
    "mining_right": {
        "right_type": "mining",
        "mineral": "建筑用花岗岩",
        "area_km2": "0.4521",
        "boundary": [
            ["119.912345", "30.123456"],
            ["119.921345", "30.123456"],
            ["119.921345", "30.131456"],
            ["119.912345", "30.131456"],
        ],
        "crs": "CGCS2000",
        "reserves": {"quantity": "1250.5", "unit": "10kt"},
        "production_scale": {"quantity": "100", "unit": "10kt/a"},
        "term_years": 10,
    },
    "emission_right": {
        "pollutant": "COD",
        "quantity": "12.500",
        "unit": "t/a",
        "region": "宁夏回族自治区",
        "region_code": "640000",
        "basin": "黄河流域",
    },
    "water_right": {
        "trade_type": "abstraction_permit",
        "water_source": "黄河干流",
        "volume": "500000",
        "unit": "m3/a",
        "term_years": 5,
        "use": "industrial",
        "region": "内蒙古自治区鄂尔多斯市",
        "region_code": "150600",
    },
    "technology": {
        "ip_type": "invention_patent",
        "registration_number": "ZL202310123456.7",
        "holder": "某某大学",
        "transaction_form": "exclusive_licence",
        "term_years": 5,
        "state_owned": True,
    },
}


SAMPLE_SELLERS: dict[str, dict[str, str]] = {
    "land_use_right": {
        "name": "苏州工业园区自然资源和规划局",
        "credit_code": "113205000141600402",
        "address": "苏州工业园区现代大道999号",
        "contact": "王先生 0512-66680000",
    },
    "mining_right": {
        "name": "浙江省自然资源厅",
        "address": "杭州市西湖区保俶路47号",
        "contact": "李女士 0571-87050000",
    },
    "emission_right": {"name": "宁夏回族自治区生态环境厅", "contact": "马先生 0951-5010000"},
    "water_right": {"name": "鄂尔多斯市水利局", "contact": "张先生 0477-8580000"},
    "technology": {"name": "某某大学", "contact": "技术转移中心 0512-65880000"},
}
"""A seller (出让人 / 转让方) per asset class; only the land authority's credit code is a checked sample."""


def seller_of(asset_class: str) -> dict[str, str]:
    """A fresh copy of the sample seller of ``asset_class`` (KeyError when unknown)."""
    return dict(SAMPLE_SELLERS[asset_class])


def attributes_of(asset_class: str) -> dict[str, Any]:
    """A fresh copy of the sample attributes of ``asset_class`` (KeyError when unknown)."""
    return copy.deepcopy(SAMPLE_ATTRIBUTES[asset_class])
