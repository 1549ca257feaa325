// geoscribe_osm_native: geoscribe's OSM reading pass over a PBF file in C++ (libosmium).
//
// It does what geoscribe.sources.osm's Python pass does with pyosmium, object for object and in
// the same order (the same libosmium, the same area assembly, the same buffer flushes), but
// builds Python objects only for what the Python side keeps: the tagged nodes inside the
// bounds, the tagged ways and areas not certainly outside them, with their tags as (key, value)
// pairs, and the member-way lines of area relations. Everything else (the tag policy, the
// exact region test, the relation repair, the counters' names) stays in Python.
//
// Written against libosmium's public API; see native/osm/README.md for how it is built.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <osmium/area/assembler.hpp>
#include <osmium/area/multipolygon_manager.hpp>
#include <osmium/geom/wkb.hpp>
#include <osmium/handler/node_locations_for_ways.hpp>
#include <osmium/index/map/flex_mem.hpp>
#include <osmium/io/pbf_input.hpp>
#include <osmium/io/reader.hpp>
#include <osmium/osm.hpp>
#include <osmium/version.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

using LocationIndex = osmium::index::map::FlexMem<osmium::unsigned_object_id_type, osmium::Location>;
using LocationHandler = osmium::handler::NodeLocationsForWays<LocationIndex>;
using MpManager = osmium::area::MultipolygonManager<osmium::area::Assembler>;

struct Envelope {
    double minx = std::numeric_limits<double>::infinity();
    double miny = std::numeric_limits<double>::infinity();
    double maxx = -std::numeric_limits<double>::infinity();
    double maxy = -std::numeric_limits<double>::infinity();

    void add(const osmium::Location& location) {
        const double x = location.lon();
        const double y = location.lat();
        minx = std::min(minx, x);
        maxx = std::max(maxx, x);
        miny = std::min(miny, y);
        maxy = std::max(maxy, y);
    }
};

// The closed-way area rule of geoscribe.sources.osm.closed_way_is_area, with its key lists
// handed over from Python (so the lists live in one place).
class AreaRule {
public:
    AreaRule(std::vector<std::string> keys, std::map<std::string, std::set<std::string>> linear)
        : m_keys(std::move(keys)), m_linear(std::move(linear)) {}

    bool is_area(const osmium::TagList& tags) const {
        const char* area = tags.get_value_by_key("area");
        if (area != nullptr && std::strcmp(area, "no") == 0) {
            return false;
        }
        if (area != nullptr && std::strcmp(area, "yes") == 0) {
            return true;
        }
        for (const auto& key : m_keys) {
            const char* value = tags.get_value_by_key(key.c_str());
            if (value == nullptr || *value == '\0') {
                continue;
            }
            const auto linear = m_linear.find(key);
            if (linear == m_linear.end() || linear->second.count(value) == 0) {
                return true;
            }
        }
        return false;
    }

private:
    std::vector<std::string> m_keys;
    std::map<std::string, std::set<std::string>> m_linear;
};

// A C string as Python text (UTF-8, strict: invalid bytes raise UnicodeDecodeError, as
// pyosmium's strings do).
py::str text(const char* value) {
    PyObject* decoded = PyUnicode_DecodeUTF8(value, static_cast<Py_ssize_t>(std::strlen(value)),
                                             nullptr);
    if (decoded == nullptr) {
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::str>(decoded);
}

// The reading pass. The relations are read in the constructor (libosmium's first pass of the
// area assembly); `next_batch` then reads the file once, object by object.
class Pass {
public:
    Pass(const std::string& path, std::tuple<double, double, double, double> bounds,
         bool prefilter, std::vector<std::string> area_keys,
         std::map<std::string, std::set<std::string>> linear_values,
         std::optional<std::unordered_set<std::string>> keys)
        : m_file(path, "pbf"),
          m_prefilter(prefilter),
          m_keys(std::move(keys)),
          m_rule(std::move(area_keys), std::move(linear_values)),
          m_mp(m_config),
          m_locations(m_index),
          m_wkb(osmium::geom::wkb_type::wkb, osmium::geom::out_type::binary) {
        std::tie(m_minx, m_miny, m_maxx, m_maxy) = bounds;
        m_locations.ignore_errors();
        m_point = py::str("point");
        m_line = py::str("line");
        m_area = py::str("area");
        m_node = py::str("node");
        m_way = py::str("way");
        m_relation = py::str("relation");
        read_relations();
        m_mp.set_callback([this](osmium::memory::Buffer&& buffer) {
            m_area_buffers.push_back(std::move(buffer));
        });
        m_reader = std::make_unique<osmium::io::Reader>(m_file, osmium::osm_entity_bits::nwr);
    }

    // The next objects for Python (at least `size` unless the file is done; empty at the end):
    // ("point", (lon, lat), pairs, "node", id), ("line", WKB, pairs, "way", id) or
    // ("area", WKB, pairs, "way"/"relation", id), in the order the Python pass yields them.
    py::list next_batch(std::size_t size) {
        py::list out;
        while (!m_done && static_cast<std::size_t>(py::len(out)) < size) {
            if (!m_buffer || m_it == m_buffer.end()) {
                m_buffer = m_reader->read();
                if (!m_buffer) {
                    m_reader->close();
                    m_mp.flush_output();
                    drain_areas(out);
                    m_done = true;
                    break;
                }
                m_it = m_buffer.begin();
                continue;
            }
            osmium::OSMEntity& entity = *m_it;
            ++m_it;
            handle(entity, out);
        }
        return out;
    }

    // What the pass counted, and what the relation repair needs (call after the last batch).
    py::dict summary() const {
        py::dict result;
        result["read"] = m_read;
        result["points_without_keys"] = m_unkeyed;
        result["node_invalid_location"] = m_node_invalid;
        result["way_missing_nodes"] = m_way_missing;
        result["area_invalid"] = m_area_invalid;
        result["area_ways"] = m_area_ways;
        result["way_areas"] = m_way_areas;
        result["assembled"] = m_assembled;
        py::dict members;
        py::dict tags;
        for (const auto& relation : m_relations) {
            py::list ways;
            for (const auto& member : relation.members) {
                ways.append(py::make_tuple(member.first, text(member.second.c_str())));
            }
            members[py::int_(relation.id)] = ways;
            py::tuple pairs(relation.tags.size());
            for (std::size_t i = 0; i < relation.tags.size(); ++i) {
                pairs[i] = py::make_tuple(text(relation.tags[i].first.c_str()),
                                          text(relation.tags[i].second.c_str()));
            }
            tags[py::int_(relation.id)] = pairs;
        }
        result["members"] = members;
        result["tags"] = tags;
        py::dict lines;
        for (const auto& line : m_member_lines) {
            if (line.second.status == LineStatus::ok) {
                lines[py::int_(line.first)] = py::bytes(line.second.wkb);
            } else if (line.second.status == LineStatus::degenerate) {
                lines[py::int_(line.first)] = py::str("");
            } else {
                lines[py::int_(line.first)] = py::none();
            }
        }
        result["lines"] = lines;
        return result;
    }

private:
    enum class LineStatus { ok, missing, degenerate };

    struct Line {
        LineStatus status = LineStatus::missing;
        std::string wkb;
        Envelope envelope;
    };

    struct Relation {
        osmium::object_id_type id;
        std::vector<std::pair<osmium::object_id_type, std::string>> members;
        std::vector<std::pair<std::string, std::string>> tags;
    };

    void read_relations() {
        osmium::io::Reader reader{m_file, osmium::osm_entity_bits::relation};
        while (osmium::memory::Buffer buffer = reader.read()) {
            for (const auto& relation : buffer.select<osmium::Relation>()) {
                const char* type = relation.tags().get_value_by_key("type");
                if (type == nullptr ||
                    (std::strcmp(type, "multipolygon") != 0 && std::strcmp(type, "boundary") != 0)) {
                    continue;
                }
                if (relation.tags().size() > 1) {  // an area relation that keeps a tag
                    Relation found{relation.id(), {}, {}};
                    for (const auto& member : relation.members()) {
                        if (member.type() == osmium::item_type::way) {
                            found.members.emplace_back(member.ref(), member.role());
                            m_member_ways.insert(member.ref());
                        }
                    }
                    for (const auto& tag : relation.tags()) {
                        if (std::strcmp(tag.key(), "type") != 0) {
                            found.tags.emplace_back(tag.key(), tag.value());
                        }
                    }
                    m_relations.push_back(std::move(found));
                }
                m_mp.relation(relation);
            }
        }
        reader.close();
        m_mp.prepare_for_lookup();
    }

    void handle(osmium::OSMEntity& entity, py::list& out) {
        switch (entity.type()) {
            case osmium::item_type::node: {
                auto& node = static_cast<osmium::Node&>(entity);
                m_locations.node(node);
                m_mp.handle_node(node);
                if (!node.tags().empty()) {
                    tagged_node(node, out);
                    drain_areas(out);
                }
                break;
            }
            case osmium::item_type::way: {
                auto& way = static_cast<osmium::Way&>(entity);
                m_locations.way(way);
                m_mp.handle_way(way);
                if (!way.tags().empty()) {
                    tagged_way(way, out);
                    drain_areas(out);
                } else if (m_member_ways.count(way.id())) {
                    m_member_lines[way.id()] = line_of(way);
                }
                break;
            }
            case osmium::item_type::relation:
                m_mp.handle_relation(static_cast<osmium::Relation&>(entity));
                break;
            default:
                break;
        }
    }

    // A tag list as a list of (key, value) tuples, in order: with `keys`, only the pairs whose
    // key is one of them (what the tag decision reads). Each pair is made once and shared
    // (building=yes recurs thousands of times: one tuple, its strings hashed once by Python).
    py::list pairs(const osmium::TagList& tags) {
        py::list result;
        for (const auto& tag : tags) {
            if (m_keys) {
                m_key.assign(tag.key());
                if (!m_keys->count(m_key)) {
                    continue;
                }
            }
            m_pair_key.assign(tag.key());
            m_pair_key.push_back('\0');
            m_pair_key.append(tag.value());
            auto found = m_pairs.find(m_pair_key);
            if (found == m_pairs.end()) {
                if (m_pairs.size() >= kMaxPairs) {
                    m_pairs.clear();
                }
                found = m_pairs.emplace(m_pair_key,
                                        py::make_tuple(text(tag.key()), text(tag.value()))).first;
            }
            result.append(found->second);
        }
        return result;
    }

    bool has_key(const osmium::TagList& tags) {
        for (const auto& tag : tags) {
            m_key.assign(tag.key());
            if (m_keys->count(m_key)) {
                return true;
            }
        }
        return false;
    }

    bool outside(const Envelope& e) const {
        return e.maxx < m_minx || e.minx > m_maxx || e.maxy < m_miny || e.miny > m_maxy;
    }

    void tagged_node(const osmium::Node& node, py::list& out) {
        ++m_read;
        const osmium::Location location = node.location();
        if (!location.valid()) {
            ++m_node_invalid;
            return;
        }
        const double lon = location.lon();
        const double lat = location.lat();
        if (m_minx <= lon && lon <= m_maxx && m_miny <= lat && lat <= m_maxy) {
            if (m_keys && !has_key(node.tags())) {  // the tag decision would drop it: counted
                ++m_unkeyed;
                return;
            }
            out.append(py::make_tuple(m_point, py::make_tuple(lon, lat), pairs(node.tags()),
                                      m_node, node.id()));
        }
    }

    Line line_of(const osmium::Way& way) {
        Line line;
        try {
            line.wkb = m_wkb.create_linestring(way, osmium::geom::use_nodes::all);
            line.status = LineStatus::ok;
            for (const auto& node_ref : way.nodes()) {
                line.envelope.add(node_ref.location());
            }
        } catch (const osmium::invalid_location&) {
            line.status = LineStatus::missing;
        } catch (const osmium::geometry_error&) {  // fewer than two nodes
            line.status = LineStatus::degenerate;
        }
        return line;
    }

    void tagged_way(const osmium::Way& way, py::list& out) {
        ++m_read;
        Line line = line_of(way);
        if (m_member_ways.count(way.id())) {
            m_member_lines[way.id()] = line;
        }
        const bool is_area = way.is_closed() && m_rule.is_area(way.tags());
        if (line.status == LineStatus::missing) {
            ++m_way_missing;
        } else if (is_area) {
            ++m_area_ways;
        } else if (line.status == LineStatus::degenerate) {
            ++m_way_missing;
        } else if (!(m_prefilter && outside(line.envelope))) {
            out.append(py::make_tuple(m_line, py::bytes(line.wkb), pairs(way.tags()), m_way,
                                      way.id()));
        }
    }

    void drain_areas(py::list& out) {
        while (!m_area_buffers.empty()) {
            osmium::memory::Buffer buffer = std::move(m_area_buffers.front());
            m_area_buffers.pop_front();
            for (const auto& area : buffer.select<osmium::Area>()) {
                if (!area.tags().empty()) {
                    tagged_area(area, out);
                }
            }
        }
    }

    void tagged_area(const osmium::Area& area, py::list& out) {
        py::str osm_type = m_way;
        if (area.from_way()) {
            if (!m_rule.is_area(area.tags())) {
                return;
            }
            ++m_way_areas;
        } else {
            osm_type = m_relation;
            m_assembled.push_back(area.orig_id());
        }
        std::string wkb;
        Envelope envelope;
        try {
            wkb = m_wkb.create_multipolygon(area);
            if (area.num_rings().first == 1 && wkb.size() > 9 && wkb[0] == '\x01') {
                wkb.erase(0, 9);  // one polygon: its own WKB follows the multipolygon's header
            }
            for (const auto& outer : area.outer_rings()) {
                for (const auto& node_ref : outer) {
                    envelope.add(node_ref.location());
                }
                for (const auto& inner : area.inner_rings(outer)) {
                    for (const auto& node_ref : inner) {
                        envelope.add(node_ref.location());
                    }
                }
            }
        } catch (const osmium::invalid_location&) {
            ++m_area_invalid;
            return;
        } catch (const osmium::geometry_error&) {
            ++m_area_invalid;
            return;
        }
        if (!(m_prefilter && outside(envelope))) {
            out.append(py::make_tuple(m_area, py::bytes(wkb), pairs(area.tags()), osm_type,
                                      area.orig_id()));
        }
    }

    osmium::io::File m_file;
    bool m_prefilter;
    std::optional<std::unordered_set<std::string>> m_keys;  // the only keys handed over
    std::string m_key;
    double m_minx = 0, m_miny = 0, m_maxx = 0, m_maxy = 0;
    AreaRule m_rule;
    osmium::area::Assembler::config_type m_config;
    MpManager m_mp;
    LocationIndex m_index;
    LocationHandler m_locations;
    osmium::geom::WKBFactory<> m_wkb;
    std::unique_ptr<osmium::io::Reader> m_reader;
    osmium::memory::Buffer m_buffer;
    osmium::memory::Buffer::iterator m_it;
    std::deque<osmium::memory::Buffer> m_area_buffers;
    bool m_done = false;
    py::str m_point, m_line, m_area, m_node, m_way, m_relation;

    static constexpr std::size_t kMaxPairs = 200000;  // tag pairs remembered
    std::unordered_map<std::string, py::object> m_pairs;
    std::string m_pair_key;

    std::vector<Relation> m_relations;
    std::unordered_set<osmium::object_id_type> m_member_ways;
    std::unordered_map<osmium::object_id_type, Line> m_member_lines;
    std::vector<osmium::object_id_type> m_assembled;
    long long m_read = 0, m_node_invalid = 0, m_way_missing = 0, m_area_invalid = 0;
    long long m_area_ways = 0, m_way_areas = 0, m_unkeyed = 0;
};

}  // namespace

PYBIND11_MODULE(geoscribe_osm_native, m) {
    m.doc() = "geoscribe's OSM reading pass in C++ (libosmium); see geoscribe.sources.osm.";
    m.attr("LIBOSMIUM_VERSION") = LIBOSMIUM_VERSION_STRING;
    py::class_<Pass>(m, "Pass")
        .def(py::init<const std::string&, std::tuple<double, double, double, double>, bool,
                      std::vector<std::string>, std::map<std::string, std::set<std::string>>,
                      std::optional<std::unordered_set<std::string>>>(),
             py::arg("path"), py::arg("bounds"), py::arg("prefilter"), py::arg("area_keys"),
             py::arg("linear_values"), py::arg("keys") = py::none())
        .def("next_batch", &Pass::next_batch, py::arg("size"))
        .def("summary", &Pass::summary);
}
