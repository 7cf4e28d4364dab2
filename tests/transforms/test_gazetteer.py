"""The national gazetteer and zones (transforms/gazetteer.py, vocab/gazetteer.csv, zones.csv) and
the entity side of extraction that uses them (transforms/entities.py, transforms/discovery.py).

Canonical names are the official full names: 萧山 is 萧山区 (parent 杭州市), not the full path
杭州市萧山区; a full name that several places share is qualified by its parent (北京市朝阳区).
Every sentence here is written for the test.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms import gazetteer
from transforms.discovery import discover
from transforms.entities import SCOPE_PREFIX, base_index, entity_frame, plausible_name, suffix_types
from transforms.extract import extract
from transforms.vocabulary import entity_dimension, indicator_dimension, load_vocabulary

SHARED = Path(__file__).resolve().parents[3] / "shared"
DEV = SHARED / "corpus" / "dev"
JUNK = ["但泉州", "除泉州", "国家市", "继续排", "仍保持在", "我与欧盟贸易规模", "外贸总值", "进出区",
        "厦门和漳州", "所有地市", "个国家级经开区", "国家级经开区", "鄱阳市"]


@pytest.fixture(scope="module")
def index():
    return base_index(load_vocabulary())


def _facts(text: str, published: dt.date | None = dt.date(2024, 11, 20)) -> list[dict]:
    documents = pl.DataFrame({"document_id": ["t"], "text": [text], "title_source": [None], "published_at": [published]},
                             schema_overrides={"published_at": pl.Date, "title_source": pl.String})
    return extract(documents).observations.to_dicts()


# --- the data files ---------------------------------------------------------------------------

def test_gazetteer_covers_every_level_once():
    places = gazetteer.places()
    assert places.get_column("name").is_unique().all()
    rows = places.filter(pl.col("origin") == "gazetteer")
    counts = dict(rows.group_by("entity_type").len().iter_rows())
    municipalities = rows.filter(pl.col("parent") == "中国").height - counts["province"]
    assert (counts["province"], municipalities) == (30, 4)     # 23 provinces (台湾 too), 5 自治区, 2 SARs
    prefectures = rows.filter(pl.col("entity_type").is_in(["city", "prefecture"])
                              & ~pl.col("parent").is_in(["中国", "台湾省"]))
    assert prefectures.height == 333
    assert counts["county"] + counts["district"] > 2800
    parents = set(places.get_column("name")) | {"中国"}
    assert places.filter(~pl.col("parent").is_in(list(parents))).height == 0
    assert rows.filter(pl.col("admin_code").is_not_null()).height > 3000


def test_zones_are_national_lists_with_a_known_host():
    raw = pl.read_csv(Path(gazetteer.VOCAB_DIR / "zones.csv"), comment_prefix="#", infer_schema=False)
    kinds = dict(raw.group_by("kind").len().iter_rows())
    assert kinds["new_area"] == 19 and kinds["ftz"] == 22 and kinds["high_tech"] > 150 and kinds["etdz"] > 200
    assert raw.get_column("name").is_unique().all()
    known = set(gazetteer.places().get_column("name")) | set(load_vocabulary().entities.get_column("name"))
    assert set(raw.get_column("host")) <= known


def test_common_words_are_never_surface_forms():
    unique, shared = gazetteer.surface_forms()
    for word in ["南海", "比如", "合作", "振兴", "资源", "港口", "和县", "矿区", "东方", "新建", "光明"]:
        assert word not in unique and word not in shared, word
    assert unique["马鞍山和县"] == "和县"          # a 2-character county named with its city
    assert unique["阳泉市矿区"] == "矿区"


# --- short forms, types and parents ---------------------------------------------------------------

@pytest.mark.parametrize("form, name, entity_type, parent", [
    ("萧山", "萧山区", "district", "杭州市"),
    ("萧山区", "萧山区", "district", "杭州市"),
    ("昆山", "昆山市", "county", "苏州市"),
    ("黔东南", "黔东南苗族侗族自治州", "prefecture", "贵州省"),
    ("黔东南州", "黔东南苗族侗族自治州", "prefecture", "贵州省"),
    ("内蒙古", "内蒙古自治区", "province", "中国"),
    ("广西", "广西壮族自治区", "province", "中国"),
    ("神农架", "神农架林区", "county", "湖北省"),
    ("仙桃", "仙桃市", "county", "湖北省"),
    ("北京朝阳区", "北京市朝阳区", "district", "北京市"),
    ("涪陵", "涪陵区", "district", "重庆市"),
    ("成都经开区", "成都经济技术开发区", "zone", "龙泉驿区"),
    ("杨凌示范区", "杨凌农业高新技术产业示范区", "zone", "杨陵区"),
    ("天津港保税区", "天津港保税区", "zone", "滨海新区"),
])
def test_a_short_form_names_one_place(index, form, name, entity_type, parent):
    assert index.canonical[form] == name
    assert (index.entity_type[name], index.parent[name]) == (entity_type, parent)


def test_the_projects_own_entities_win(index):
    assert index.canonical["重庆"] == "重庆市"
    assert (index.entity_type["两江新区"], index.parent["两江新区"]) == ("zone", "重庆市")
    assert index.canonical["重庆两江新区"] == "两江新区"
    assert index.canonical["中关村"] == "中关村科技园区"


def test_municipalities_are_cities_under_china(index):
    for city in ("北京市", "天津市", "上海市", "重庆市"):
        assert (index.entity_type[city], index.parent[city]) == ("city", "中国")
    assert index.ancestors("北京市朝阳区") == ["北京市", "中国"]
    assert index.ancestors("昆山高新区") == ["昆山市", "苏州市", "江苏省", "中国"]


def test_a_county_level_city_is_never_a_city(index):
    for name in ("昆山市", "泰兴市", "义乌市", "仙桃市", "恩施市"):
        assert index.entity_type[name] == "county", name
    # 我市 in 泰兴's own bulletin is 泰兴市; 全市 for a district is its city
    assert index.scope_target("city", "泰兴市") == "泰兴市"
    assert index.scope_target("city", "萧山区") == "杭州市"
    assert index.scope_target("province", "昆山市") == "江苏省"
    assert index.scope_target("district", "神农架林区") == "神农架林区"


# --- names several places share -------------------------------------------------------------------

@pytest.mark.parametrize("name, context, expected", [
    ("朝阳区", [], None),
    ("朝阳区", ["北京市"], "北京市朝阳区"),
    ("朝阳区", ["吉林省"], "长春市朝阳区"),
    ("朝阳区", ["长春"], "长春市朝阳区"),             # a short form in the context counts too
    ("朝阳区", ["北京市", "长春市"], None),           # both named: never a guess
    ("朝阳区", ["中国"], None),
    ("鼓楼区", ["福建省"], "福州市鼓楼区"),
    ("滨海新区", [], None),
    ("滨海新区", ["天津市"], "滨海新区"),
    ("滨海新区", ["绍兴市"], "绍兴滨海新区"),
    ("高新区", [], None),
    ("高新区", ["成都市"], "成都高新区"),
    ("经济开发区", ["上饶市"], "上饶经济技术开发区"),
    ("开发区", ["江苏省"], None),
    ("保税区", ["天津市"], "天津港保税区"),
    ("示范区", ["杨陵区"], "杨凌农业高新技术产业示范区"),
    ("萧山", [], "萧山区"),
    ("不是地名", ["北京市"], None),
])
def test_shared_names_resolve_only_by_context(index, name, context, expected):
    assert gazetteer.resolve(name, context) == expected
    assert index.resolve(name, context) == expected


def test_shared_names_are_not_matched_as_one_place(index):
    assert "朝阳区" not in index.canonical and "高新区" not in index.canonical
    assert "朝阳区" in index.ambiguous and "滨海新区" in index.ambiguous
    assert "(?:" in index.pattern(include_ambiguous=True)


# --- places a URL names ----------------------------------------------------------------------------

def test_a_government_host_names_its_place_by_initials():
    found = gazetteer.places_in_url("http://www.fl.gov.cn/zwgk/tjxx/202511/t20251103_9.html")
    assert ("涪陵区", "district") in found
    assert gazetteer.places_in_url("http://www.fl.gov.cn/zwgk/", {"district", "zone"}) == [("涪陵区", "district")]
    assert not any(n == "涪陵区" for n, _ in gazetteer.places_in_url("http://fl.example.com/news/1.html"))


def test_a_full_pinyin_word_names_every_place_it_may_mean():
    found = gazetteer.places_in_url("http://www.yangling.gov.cn/info/1045/2231.htm")
    assert {("杨陵区", "district"), ("杨凌农业高新技术产业示范区", "zone")} <= set(found)
    assert gazetteer.places_in_url("http://www.jsrb.com.cn/taixing/2010/0113.html") == [("泰兴市", "county")]


def test_host_words_and_short_words_never_name_a_place():
    assert gazetteer.places_in_url("http://www.gov.cn/xinwen/2023-12/15/content_5.htm") == []
    assert gazetteer.places_in_url("https://news.example.com/xian/zwgk/index.html") == []   # 4 letters
    assert gazetteer.places_in_url(None) == []


# --- discovery -------------------------------------------------------------------------------------

def test_fragments_never_become_entities(index):
    texts = ["上半年，福州GDP增长6%，但泉州GDP增长更快。", "除泉州外，其他地市均有增长。",
             "对一带一路沿线国家市场出口增长12%。", "全市经济总量继续排在全省第一。",
             "进出区货物总值107亿美元。", "我与欧盟贸易规模达到1.2万亿元，厦门和漳州分别增长5%。",
             "全省12个国家级经开区实现进出口总额。", "鄱阳工业园区主营业务收入增长。"]
    found = discover(texts, base_index(load_vocabulary()))
    assert not set(JUNK) & found.discovered
    assert not set(JUNK) & set(found.canonical)
    frame = entity_frame(found, {"仍保持在", "外贸总值", "继续排", "主城都市区"})
    assert frame.get_column("name").to_list() == ["主城都市区"]


@pytest.mark.parametrize("text, name, entity_type, parent", [
    ("宁海经济开发区上半年实现工业产值增长8%。", "宁海经济开发区", "zone", "宁海县"),
    ("万年高新技术产业园区实现主营业务收入30亿元。", "万年高新技术产业园区", "park", "万年县"),
    ("宜宾县去年实现地区生产总值300亿元。", "宜宾县", "county", "宜宾市"),       # a former county
    ("昨日，江苏轩达高分子材料有限公司投产。", "江苏轩达高分子材料有限公司", "enterprise", "江苏省"),
])
def test_strong_suffixes_discover_new_names(text, name, entity_type, parent):
    found = discover([text], base_index(load_vocabulary()))
    assert name in found.discovered
    assert (found.entity_type[name], found.parent[name]) == (entity_type, parent)


def test_a_former_suffix_is_an_alias_of_the_place():
    found = discover(["2008年，江都市实现地区生产总值320亿元。"], base_index(load_vocabulary()))
    assert found.canonical["江都市"] == "江都区" and "江都市" not in found.discovered


def test_a_single_character_suffix_discovers_nothing_else():
    found = discover(["沿线国家市场和新兴区域的进出区货物增长，东京市也在其中。"], base_index(load_vocabulary()))
    assert not {n for n in found.discovered if n[-1] in "市县区州省"}


def test_plausible_names():
    assert plausible_name("主城都市区") and plausible_name("苏南")
    for junk in ("仍保持在", "外贸总值", "继续排", "我与欧盟贸易规模", "厦门和漳州", "拉动进出口增长", "前进"):
        assert not plausible_name(junk), junk


def test_the_batch_pattern_lists_only_the_forms_present(index):
    found = discover(["上半年，萧山区地区生产总值增长6%。"], base_index(load_vocabulary()))
    pattern = found.pattern()
    assert "萧山区" in pattern and "昆山" not in pattern and len(pattern) < 2_000
    assert len(index.pattern()) > 20_000                 # before discover: every form


# --- extraction with the gazetteer -------------------------------------------------------------

@pytest.mark.parametrize("text, entity", [
    ("前三季度，杭州市萧山区实现地区生产总值1523.6亿元，同比增长6.8%。", "萧山区"),
    ("1-10月，昆山完成固定资产投资812亿元，同比增长4.2%。", "昆山市"),
    ("上半年，黔东南州地区生产总值增长5.9%。", "黔东南苗族侗族自治州"),
    ("上半年，内蒙古地区生产总值增长7.3%。", "内蒙古自治区"),
])
def test_places_by_their_short_forms_are_subjects(text, entity):
    facts = _facts(text)
    assert facts and {f["entity"] for f in facts} == {entity}


def test_a_shared_name_without_context_gives_no_guessed_subject():
    facts = _facts("上半年，朝阳区地区生产总值增长5.1%。")
    assert not {f["entity"] for f in facts} & {"北京市朝阳区", "长春市朝阳区", "朝阳区"}


# --- the warehouse ----------------------------------------------------------------------------

def _loaded(tmp_path):
    from warehouse import store
    con = store.open_work(tmp_path / "g.duckdb", tmp_path / "g.duckdb.work")
    vocab = load_vocabulary()
    (tmp_path / "staging").mkdir()
    kwargs = dict(run_id="r", indicators=indicator_dimension(vocab), vocabulary_entities=entity_dimension(vocab))
    store.load_staged(con, tmp_path / "staging", **kwargs)
    return con, lambda: store.load_staged(con, tmp_path / "staging", **kwargs)


def test_the_gazetteer_is_loaded_into_dim_entity_once(tmp_path):
    con, load_again = _loaded(tmp_path)
    rows = con.execute("SELECT count(*), count(admin_code) FROM dim_entity WHERE origin = 'gazetteer'").fetchone()
    assert rows[0] > 3900 and rows[1] > 3000
    assert con.execute("SELECT entity_type, parent, admin_code FROM dim_entity WHERE name = '萧山区'").fetchone() == (
        "district", "杭州市", "330109")
    assert con.execute("SELECT origin FROM dim_entity WHERE name = '重庆高新区'").fetchone() == ("vocabulary",)
    before = con.execute("SELECT count(*) FROM dim_entity").fetchone()
    load_again()
    assert con.execute("SELECT count(*) FROM dim_entity").fetchone() == before
    con.close()


def test_a_reload_writes_the_gazetteer_rows_that_differ_from_the_stored_ones(tmp_path):
    """Unchanged gazetteer rows are left as stored; a stored row that differs (edited, or first
    discovered by the extractor) is written again from the gazetteer."""
    con, load_again = _loaded(tmp_path)
    con.execute("UPDATE dim_entity SET parent = '宁波市', admin_code = NULL WHERE name = '萧山区'")
    con.execute("UPDATE dim_entity SET origin = 'discovered' WHERE name = '昆山市'")
    before = con.execute("SELECT name, entity_type, parent, aliases, admin_code, origin FROM dim_entity "
                         "WHERE name NOT IN ('萧山区', '昆山市') ORDER BY name").fetchall()
    load_again()
    assert con.execute("SELECT parent, admin_code, origin FROM dim_entity WHERE name = '萧山区'").fetchone() == (
        "杭州市", "330109", "gazetteer")
    assert con.execute("SELECT origin FROM dim_entity WHERE name = '昆山市'").fetchone() == ("gazetteer",)
    assert con.execute("SELECT name, entity_type, parent, aliases, admin_code, origin FROM dim_entity "
                       "WHERE name NOT IN ('萧山区', '昆山市') ORDER BY name").fetchall() == before
    con.close()


def test_entities_roll_up_to_city_and_province(tmp_path):
    con, _ = _loaded(tmp_path)
    rollup = {r[0]: r[1:] for r in con.execute("SELECT entity, city, province FROM entity_hierarchy").fetchall()}
    assert rollup["萧山区"] == ("杭州市", "浙江省")
    assert rollup["昆山高新区"] == ("苏州市", "江苏省")
    assert rollup["北京市朝阳区"] == ("北京市", "北京市")
    assert rollup["黔东南苗族侗族自治州"] == ("黔东南苗族侗族自治州", "贵州省")
    assert rollup["浙江省"] == (None, "浙江省")
    con.close()


def test_a_warehouse_that_has_a_later_migration_still_gets_006(tmp_path):
    from warehouse import migrate
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    migrate.migrate(con)
    con.execute("ALTER TABLE dim_entity DROP COLUMN admin_code")
    con.execute("DELETE FROM schema_migrations WHERE version = 6")
    assert migrate.migrate(con) == [6]
    assert "admin_code" in [r[0] for r in con.execute("DESCRIBE dim_entity").fetchall()]
    con.close()


# --- after a run on the development corpus ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not DEV.is_dir(), reason="../shared/corpus/dev is not present")
def test_every_dim_entity_row_of_a_dev_run_is_known_or_a_name(tmp_path):
    from flows.pipeline import run_pipeline
    from flows.settings import Settings
    summary = run_pipeline(Settings(warehouse=tmp_path / "dev.duckdb", inbox=DEV, max_file_bytes=20_000_000))
    assert summary["status"] == "success"
    con = duckdb.connect(str(tmp_path / "dev.duckdb"), read_only=True)
    rows = con.execute("SELECT name, entity_type, parent, origin FROM dim_entity").fetchall()
    con.close()
    known = set(gazetteer.places().get_column("name")) | set(load_vocabulary().entities.get_column("name"))
    types = dict(gazetteer.places().select("name", "entity_type").iter_rows())
    suffixes = tuple(s for s, _ in suffix_types() if len(s) > 1)
    discovered = sorted((n, t, p) for n, t, p, origin in rows if origin == "discovered" and n not in known)
    print("\ndiscovered:", *discovered, sep="\n  ")
    assert not set(JUNK) & {n for n, *_ in rows}
    for name, entity_type, _ in discovered:
        assert not name.startswith(SCOPE_PREFIX)
        # a new name ends in a strong suffix (a zone, park, group or enterprise) or is an area name
        assert name.endswith(suffixes) or (entity_type == "area" and plausible_name(name)), name
        assert name[-1] not in "市县区州省" or name.endswith(suffixes) or entity_type == "county", name
    for name, entity_type, _, _ in rows:
        if types.get(name) == "county":
            assert entity_type == "county", name
