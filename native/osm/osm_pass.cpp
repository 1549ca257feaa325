// geoscribe_osm_native: geoscribe's OSM reading pass over a PBF file in C++ (libosmium).
//
// It does what geoscribe.sources.osm's Python pass does with pyosmium, object for object and in
// the same order (the same libosmium, the same area assembly, the same buffer flushes), but
// builds Python objects only for what the Python side keeps: the tagged nodes inside the
// bounds, the tagged ways and areas not certainly outside them, with their tags as (key, value)
// pairs, and the member-way lines of area relations. Everything else (the tag policy, the
// exact region test, the relation repair, the counters' names) stays in Python.
//
// The file is read in a thread of its own, without Python's lock: it makes plain C++ records in
// batches, and `next_batch` turns a finished batch into Python objects while the thread reads on
// (the Python side meanwhile decides tags and writes the store).
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
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
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

// One object handed over: a point (lon, lat) or a line / area (WKB), its tag pairs ("key\0value",
// only the deciding keys when given), its OSM type and id.
struct Item {
    char kind = 'p';       // 'p' point, 'l' line, 'a' area
    char osm_type = 'n';   // 'n' node, 'w' way, 'r' relation
    osmium::object_id_type id = 0;
    double lon = 0;
    double lat = 0;
    std::string wkb;
    std::vector<std::string> pairs;
};

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

struct Settings {
    std::string path;
    double minx, miny, maxx, maxy;
    bool prefilter;
    std::optional<std::unordered_set<std::string>> keys;
    std::size_t batch;
};

// The reading itself, pure C++ (runs in the reading thread): libosmium's relation pass of the
// area assembly, then one pass over everything, object by object, as pyosmium's FileProcessor
// does it (locations, area assembly, then the object; areas after the next object that passes
// the tag filter, and at the end).
class Reading {
public:
    Reading(Settings settings, AreaRule rule)
        : m_settings(std::move(settings)),
          m_rule(std::move(rule)),
          m_file(m_settings.path, "pbf"),
          m_mp(m_config),
          m_locations(m_index),
          m_wkb(osmium::geom::wkb_type::wkb, osmium::geom::out_type::binary) {
        m_locations.ignore_errors();
    }

    // Read the file; `emit` gets each full batch (and the last one), `stopped` is asked between
    // input buffers.
    template <typename Emit, typename Stopped>
    void run(Emit emit, Stopped stopped) {
        if (!read_relations(stopped)) {
            return;
        }
        m_mp.set_callback([this](osmium::memory::Buffer&& buffer) {
            m_area_buffers.push_back(std::move(buffer));
        });
        osmium::io::Reader reader{m_file, osmium::osm_entity_bits::nwr};
        while (osmium::memory::Buffer buffer = reader.read()) {
            if (stopped()) {
                reader.close();
                return;
            }
            for (auto& entity : buffer.select<osmium::OSMEntity>()) {
                handle(entity);
                if (m_out.size() >= m_settings.batch) {
                    emit(std::move(m_out));
                    m_out.clear();
                }
            }
        }
        reader.close();
        m_mp.flush_output();
        drain_areas();
        emit(std::move(m_out));
        m_out.clear();
    }

    std::vector<Relation> relations;
    std::unordered_map<osmium::object_id_type, Line> member_lines;
    std::vector<osmium::object_id_type> assembled;
    long long read = 0, node_invalid = 0, way_missing = 0, area_invalid = 0;
    long long area_ways = 0, way_areas = 0, unkeyed = 0;

private:
    // The relation pass; false when stopped before its end.
    template <typename Stopped>
    bool read_relations(Stopped stopped) {
        osmium::io::Reader reader{m_file, osmium::osm_entity_bits::relation};
        while (osmium::memory::Buffer buffer = reader.read()) {
            if (stopped()) {
                reader.close();
                return false;
            }
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
                    relations.push_back(std::move(found));
                }
                m_mp.relation(relation);
            }
        }
        reader.close();
        m_mp.prepare_for_lookup();
        return true;
    }

    void handle(osmium::OSMEntity& entity) {
        switch (entity.type()) {
            case osmium::item_type::node: {
                auto& node = static_cast<osmium::Node&>(entity);
                m_locations.node(node);
                m_mp.handle_node(node);
                if (!node.tags().empty()) {
                    tagged_node(node);
                    drain_areas();
                }
                break;
            }
            case osmium::item_type::way: {
                auto& way = static_cast<osmium::Way&>(entity);
                m_locations.way(way);
                m_mp.handle_way(way);
                if (!way.tags().empty()) {
                    tagged_way(way);
                    drain_areas();
                } else if (m_member_ways.count(way.id())) {
                    member_lines[way.id()] = line_of(way);
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

    // The pairs handed over: every tag, or only those with a deciding key.
    std::vector<std::string> pairs(const osmium::TagList& tags) {
        std::vector<std::string> result;
        for (const auto& tag : tags) {
            if (m_settings.keys) {
                m_key.assign(tag.key());
                if (!m_settings.keys->count(m_key)) {
                    continue;
                }
            }
            std::string pair{tag.key()};
            pair.push_back('\0');
            pair.append(tag.value());
            result.push_back(std::move(pair));
        }
        return result;
    }

    bool has_key(const osmium::TagList& tags) {
        for (const auto& tag : tags) {
            m_key.assign(tag.key());
            if (m_settings.keys->count(m_key)) {
                return true;
            }
        }
        return false;
    }

    bool outside(const Envelope& e) const {
        return e.maxx < m_settings.minx || e.minx > m_settings.maxx ||
               e.maxy < m_settings.miny || e.miny > m_settings.maxy;
    }

    void tagged_node(const osmium::Node& node) {
        ++read;
        const osmium::Location location = node.location();
        if (!location.valid()) {
            ++node_invalid;
            return;
        }
        const double lon = location.lon();
        const double lat = location.lat();
        if (m_settings.minx <= lon && lon <= m_settings.maxx && m_settings.miny <= lat &&
            lat <= m_settings.maxy) {
            if (m_settings.keys && !has_key(node.tags())) {  // the tag decision drops it: counted
                ++unkeyed;
                return;
            }
            Item item;
            item.kind = 'p';
            item.osm_type = 'n';
            item.id = node.id();
            item.lon = lon;
            item.lat = lat;
            item.pairs = pairs(node.tags());
            m_out.push_back(std::move(item));
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

    void tagged_way(const osmium::Way& way) {
        ++read;
        Line line = line_of(way);
        if (m_member_ways.count(way.id())) {
            member_lines[way.id()] = line;
        }
        const bool is_area = way.is_closed() && m_rule.is_area(way.tags());
        if (line.status == LineStatus::missing) {
            ++way_missing;
        } else if (is_area) {
            ++area_ways;
        } else if (line.status == LineStatus::degenerate) {
            ++way_missing;
        } else if (!(m_settings.prefilter && outside(line.envelope))) {
            Item item;
            item.kind = 'l';
            item.osm_type = 'w';
            item.id = way.id();
            item.wkb = std::move(line.wkb);
            item.pairs = pairs(way.tags());
            m_out.push_back(std::move(item));
        }
    }

    void drain_areas() {
        while (!m_area_buffers.empty()) {
            osmium::memory::Buffer buffer = std::move(m_area_buffers.front());
            m_area_buffers.pop_front();
            for (const auto& area : buffer.select<osmium::Area>()) {
                if (!area.tags().empty()) {
                    tagged_area(area);
                }
            }
        }
    }

    void tagged_area(const osmium::Area& area) {
        char osm_type = 'w';
        if (area.from_way()) {
            if (!m_rule.is_area(area.tags())) {
                return;
            }
            ++way_areas;
        } else {
            osm_type = 'r';
            assembled.push_back(area.orig_id());
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
            ++area_invalid;
            return;
        } catch (const osmium::geometry_error&) {
            ++area_invalid;
            return;
        }
        if (!(m_settings.prefilter && outside(envelope))) {
            Item item;
            item.kind = 'a';
            item.osm_type = osm_type;
            item.id = area.orig_id();
            item.wkb = std::move(wkb);
            item.pairs = pairs(area.tags());
            m_out.push_back(std::move(item));
        }
    }

    Settings m_settings;
    AreaRule m_rule;
    osmium::io::File m_file;
    osmium::area::Assembler::config_type m_config;
    MpManager m_mp;
    LocationIndex m_index;
    LocationHandler m_locations;
    osmium::geom::WKBFactory<> m_wkb;
    std::deque<osmium::memory::Buffer> m_area_buffers;
    std::unordered_set<osmium::object_id_type> m_member_ways;
    std::vector<Item> m_out;
    std::string m_key;
};

// The pass as Python sees it: the reading runs in its own thread from construction on;
// `next_batch` hands over its batches as Python objects, `summary` its counts at the end.
class Pass {
public:
    Pass(const std::string& path, std::tuple<double, double, double, double> bounds,
         bool prefilter, std::vector<std::string> area_keys,
         std::map<std::string, std::set<std::string>> linear_values,
         std::optional<std::unordered_set<std::string>> keys, std::size_t batch) {
        Settings settings{path, 0, 0, 0, 0, prefilter, std::move(keys), std::max<std::size_t>(batch, 1)};
        std::tie(settings.minx, settings.miny, settings.maxx, settings.maxy) = bounds;
        m_reading = std::make_unique<Reading>(std::move(settings),
                                              AreaRule(std::move(area_keys), std::move(linear_values)));
        m_point = py::str("point");
        m_line = py::str("line");
        m_area = py::str("area");
        m_node = py::str("node");
        m_way = py::str("way");
        m_relation = py::str("relation");
        m_thread = std::thread([this] { produce(); });
    }

    ~Pass() {
        stop();
        if (m_thread.joinable()) {
            py::gil_scoped_release release;  // the reading never takes Python's lock
            m_thread.join();
        }
    }

    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

    // The next batch of objects (an empty list at the end; a reading error is raised once the
    // batches read before it are handed over): ("point", (lon, lat), pairs, "node", id),
    // ("line", WKB, pairs, "way", id) or ("area", WKB, pairs, "way"/"relation", id), in the
    // order the Python pass yields them.
    py::list next_batch() {
        std::vector<Item> batch;
        bool have = false;
        bool ready = false;
        while (!ready) {
            {
                py::gil_scoped_release release;
                std::unique_lock<std::mutex> lock(m_mutex);
                ready = m_changed.wait_for(lock, std::chrono::milliseconds(100), [this] {
                    return !m_batches.empty() || m_finished;
                });
                if (!m_batches.empty()) {
                    batch = std::move(m_batches.front());
                    m_batches.pop_front();
                    have = true;
                }
            }
            if (!ready && PyErr_CheckSignals() != 0) {  // Ctrl-C while the file is being read
                stop();
                throw py::error_already_set();
            }
        }
        m_changed.notify_all();
        if (!have) {
            finish();
            m_drained = true;
            return py::list();
        }
        py::list out(batch.size());
        std::size_t i = 0;
        for (auto& item : batch) {
            py::object geometry = item.kind == 'p'
                ? static_cast<py::object>(py::make_tuple(item.lon, item.lat))
                : static_cast<py::object>(py::bytes(item.wkb));
            const py::str& kind = item.kind == 'p' ? m_point : item.kind == 'l' ? m_line : m_area;
            const py::str& type = item.osm_type == 'n' ? m_node
                                  : item.osm_type == 'w' ? m_way : m_relation;
            out[i++] = py::make_tuple(kind, geometry, pairs(item.pairs), type, item.id);
        }
        return out;
    }

    // What the pass counted, and what the relation repair needs (after the last batch).
    py::dict summary() {
        if (!m_drained) {
            throw std::logic_error("summary() before next_batch() has returned the last batch");
        }
        finish();
        const Reading& r = *m_reading;
        py::dict result;
        result["read"] = r.read;
        result["points_without_keys"] = r.unkeyed;
        result["node_invalid_location"] = r.node_invalid;
        result["way_missing_nodes"] = r.way_missing;
        result["area_invalid"] = r.area_invalid;
        result["area_ways"] = r.area_ways;
        result["way_areas"] = r.way_areas;
        result["assembled"] = r.assembled;
        py::dict members;
        py::dict tags;
        for (const auto& relation : r.relations) {
            py::list ways;
            for (const auto& member : relation.members) {
                ways.append(py::make_tuple(member.first, text(member.second.c_str())));
            }
            members[py::int_(relation.id)] = ways;
            py::tuple relation_pairs(relation.tags.size());
            for (std::size_t i = 0; i < relation.tags.size(); ++i) {
                relation_pairs[i] = py::make_tuple(text(relation.tags[i].first.c_str()),
                                                   text(relation.tags[i].second.c_str()));
            }
            tags[py::int_(relation.id)] = relation_pairs;
        }
        result["members"] = members;
        result["tags"] = tags;
        py::dict lines;
        for (const auto& line : r.member_lines) {
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
    static constexpr std::size_t kMaxPairs = 200000;  // tag pairs remembered

    // Tell the reading to stop (it does between input buffers) and wake it if it waits.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_stop = true;
        }
        m_changed.notify_all();
    }

    static constexpr std::size_t kMaxBatches = 8;     // read ahead at most

    void produce() {
        try {
            m_reading->run(
                [this](std::vector<Item>&& batch) {
                    std::unique_lock<std::mutex> lock(m_mutex);
                    m_changed.wait(lock, [this] { return m_batches.size() < kMaxBatches || m_stop; });
                    if (!m_stop && !batch.empty()) {
                        m_batches.push_back(std::move(batch));
                    }
                    lock.unlock();
                    m_changed.notify_all();
                },
                [this] { return m_stop.load(); });
        } catch (...) {
            m_error = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_finished = true;
        }
        m_changed.notify_all();
    }

    // After the last batch: the thread joined, its error (if any) raised.
    void finish() {
        if (m_thread.joinable()) {
            py::gil_scoped_release release;
            m_thread.join();
        }
        if (m_error) {
            std::exception_ptr error = m_error;
            m_error = nullptr;
            std::rethrow_exception(error);
        }
    }

    // Pairs as a list of (key, value) tuples; each pair made once and shared (building=yes
    // recurs thousands of times: one tuple, its strings hashed once by Python).
    py::list pairs(const std::vector<std::string>& joined) {
        py::list result(joined.size());
        std::size_t i = 0;
        for (const auto& pair : joined) {
            auto found = m_pairs.find(pair);
            if (found == m_pairs.end()) {
                if (m_pairs.size() >= kMaxPairs) {
                    m_pairs.clear();
                }
                const std::size_t split = pair.find('\0');
                found = m_pairs.emplace(pair, py::make_tuple(text(pair.substr(0, split).c_str()),
                                                             text(pair.c_str() + split + 1))).first;
            }
            result[i++] = found->second;
        }
        return result;
    }

    std::unique_ptr<Reading> m_reading;
    std::thread m_thread;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<std::vector<Item>> m_batches;
    bool m_finished = false;
    bool m_drained = false;  // next_batch has returned the empty list
    std::atomic<bool> m_stop{false};
    std::exception_ptr m_error;
    std::unordered_map<std::string, py::object> m_pairs;
    py::str m_point, m_line, m_area, m_node, m_way, m_relation;
};

}  // namespace

PYBIND11_MODULE(geoscribe_osm_native, m) {
    m.doc() = "geoscribe's OSM reading pass in C++ (libosmium); see geoscribe.sources.osm.";
    m.attr("LIBOSMIUM_VERSION") = LIBOSMIUM_VERSION_STRING;
    m.attr("SOURCE_SHA256") = GEOSCRIBE_OSM_SOURCE_SHA256;  // setup.py: this file's digest
    py::class_<Pass>(m, "Pass")
        .def(py::init<const std::string&, std::tuple<double, double, double, double>, bool,
                      std::vector<std::string>, std::map<std::string, std::set<std::string>>,
                      std::optional<std::unordered_set<std::string>>, std::size_t>(),
             py::arg("path"), py::arg("bounds"), py::arg("prefilter"), py::arg("area_keys"),
             py::arg("linear_values"), py::arg("keys") = py::none(), py::arg("batch") = 1000)
        .def("next_batch", &Pass::next_batch)
        .def("summary", &Pass::summary);
}
