#include "vmm/libvirt_network.h"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <random>

#include "vmm/devices/virtio_net.h"

namespace ftvm {
namespace {

// libvirt prints every error to stderr unless told otherwise; ftvm reports them itself.
void quiet_errors(void*, virErrorPtr) {}

std::string last_libvirt_error() {
  const char* message = virGetLastErrorMessage();
  return message != nullptr ? message : "no reason given";
}

struct ConnectionClose {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct NetworkFree {
  void operator()(virNetworkPtr n) const { virNetworkFree(n); }
};
struct PortFree {
  void operator()(virNetworkPortPtr p) const { virNetworkPortFree(p); }
};
struct BindingFree {
  void operator()(virNWFilterBindingPtr b) const { virNWFilterBindingFree(b); }
};
struct PoolFree {
  void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); }
};
struct VolumeFree {
  void operator()(virStorageVolPtr v) const { virStorageVolFree(v); }
};
struct CharFree {
  void operator()(char* s) const { free(s); }
};
using Connection = std::unique_ptr<virConnect, ConnectionClose>;
using Network = std::unique_ptr<virNetwork, NetworkFree>;
using Port = std::unique_ptr<virNetworkPort, PortFree>;
using Binding = std::unique_ptr<virNWFilterBinding, BindingFree>;
using Pool = std::unique_ptr<virStoragePool, PoolFree>;
using Volume = std::unique_ptr<virStorageVol, VolumeFree>;
using CString = std::unique_ptr<char, CharFree>;

Result<Connection> connect(const std::string& uri) {
  virSetErrorFunc(nullptr, quiet_errors);
  Connection connection(virConnectOpen(uri.c_str()));
  if (!connection) {
    return make_error(
        fmt::format("cannot connect to libvirt at {}: {}", uri, last_libvirt_error()));
  }
  return connection;
}

std::string random_uuid() {
  std::random_device entropy;
  std::array<uint8_t, 16> bytes{};
  for (auto& b : bytes) b = static_cast<uint8_t>(entropy());
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string text;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += fmt::format("{:02x}", bytes[i]);
  }
  return text;
}

std::string xml_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct XmlDocFree {
  void operator()(xmlDocPtr d) const { xmlFreeDoc(d); }
};
struct XPathContextFree {
  void operator()(xmlXPathContextPtr c) const { xmlXPathFreeContext(c); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObjectPtr o) const { xmlXPathFreeObject(o); }
};

// Where libvirt plugs a port in: its <plug>'s type and bridge attributes.
struct Plug {
  std::string type;
  std::string bridge;
};

// The string value of `expression` (an XPath string(...)) in the parsed document.
Result<std::string> xpath_string(xmlXPathContext& context, const char* expression) {
  std::unique_ptr<xmlXPathObject, XPathObjectFree> value(
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expression), &context));
  if (!value || value->type != XPATH_STRING || value->stringval == nullptr) {
    return make_error(fmt::format("cannot read {} from the port's XML", expression));
  }
  return std::string(reinterpret_cast<const char*>(value->stringval));
}

Result<Plug> read_plug(const std::string& xml) {
  std::unique_ptr<xmlDoc, XmlDocFree> doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()),
                                                        "port.xml", nullptr, XML_PARSE_NONET));
  if (!doc) return make_error("libvirt described the port in XML that does not parse");
  std::unique_ptr<xmlXPathContext, XPathContextFree> context(xmlXPathNewContext(doc.get()));
  if (!context) return make_error("out of memory reading the port's XML");
  auto type = xpath_string(*context, "string(/networkport/plug/@type)");
  if (!type) return type.error();
  auto bridge = xpath_string(*context, "string(/networkport/plug/@bridge)");
  if (!bridge) return bridge.error();
  return Plug{*type, *bridge};
}

std::string port_xml(const std::string& uuid, const std::string& owner_name,
                     const std::string& owner_uuid, const std::array<uint8_t, 6>& mac) {
  return fmt::format(
      "<networkport>\n"
      "  <uuid>{}</uuid>\n"
      "  <owner><name>{}</name><uuid>{}</uuid></owner>\n"
      "  <mac address='{}'/>\n"
      "</networkport>\n",
      uuid, xml_escaped(owner_name), owner_uuid, format_mac(mac));
}

}  // namespace

Result<LibvirtNetSpec> parse_libvirt_net_spec(std::string_view spec) {
  LibvirtNetSpec parsed;
  size_t start = 0;
  bool first = true;
  while (start <= spec.size()) {
    const size_t comma = spec.find(',', start);
    const std::string_view part = spec.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (first) {
      parsed.network = part;
      first = false;
    } else if (part.starts_with("filter=") && part.size() > 7) {
      parsed.filter = part.substr(7);
    } else if (part.starts_with("uri=") && part.size() > 4) {
      parsed.uri = part.substr(4);
    } else {
      return make_error(
          fmt::format("libvirt:{}: '{}' is not filter=NAME or uri=URI "
                      "(libvirt:NETWORK[,filter=NAME][,uri=URI])",
                      spec, part));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parsed.network.empty()) {
    return make_error(fmt::format("libvirt:{}: name the network (libvirt:NETWORK)", spec));
  }
  return parsed;
}

struct LibvirtPort::Handles {
  Connection connection;
  Network network;
  Port port;
  Binding binding;
  std::string filter;
  std::string owner_name;
  std::string owner_uuid;
  std::array<uint8_t, 6> mac{};
};

LibvirtPort::LibvirtPort(std::unique_ptr<Handles> handles) : handles_(std::move(handles)) {}

LibvirtPort::~LibvirtPort() {
  if (handles_->binding) virNWFilterBindingDelete(handles_->binding.get());
  if (handles_->port) virNetworkPortDelete(handles_->port.get(), 0);
}

Result<std::unique_ptr<LibvirtPort>> LibvirtPort::reserve(const LibvirtNetSpec& spec,
                                                          const std::array<uint8_t, 6>& mac,
                                                          const std::string& owner_name) {
  auto handles = std::make_unique<Handles>();
  auto connection = connect(spec.uri);
  if (!connection) return connection.error();
  handles->connection = std::move(*connection);
  handles->network.reset(virNetworkLookupByName(handles->connection.get(), spec.network.c_str()));
  if (!handles->network) {
    return make_error(fmt::format("libvirt network {}: {}", spec.network, last_libvirt_error()));
  }
  if (virNetworkIsActive(handles->network.get()) != 1) {
    return make_error(fmt::format("libvirt network {} is not active (virsh net-start {})",
                                  spec.network, spec.network));
  }
  handles->filter = spec.filter;
  handles->owner_name = owner_name;
  handles->owner_uuid = random_uuid();
  handles->mac = mac;
  const std::string uuid = random_uuid();
  handles->port.reset(virNetworkPortCreateXML(
      handles->network.get(), port_xml(uuid, owner_name, handles->owner_uuid, mac).c_str(), 0));
  if (!handles->port) {
    return make_error(fmt::format("cannot reserve a port on libvirt network {}: {}", spec.network,
                                  last_libvirt_error()));
  }
  std::unique_ptr<LibvirtPort> port(new LibvirtPort(std::move(handles)));
  port->uuid_ = uuid;
  // From here on the destructor gives the port back.
  CString described(virNetworkPortGetXMLDesc(port->handles_->port.get(), 0));
  if (!described) {
    return make_error("cannot read back the reserved port: " + last_libvirt_error());
  }
  auto plug = read_plug(described.get());
  if (!plug) return plug.error();
  if (plug->type != "network" && plug->type != "bridge") {
    return make_error(fmt::format(
        "libvirt network {} plugs its ports in as '{}'; ftvm plugs a TAP into a bridge only "
        "(a network with <bridge>, forward mode nat, route, open, isolated or bridge)",
        spec.network, plug->type.empty() ? "nothing" : plug->type));
  }
  if (plug->bridge.empty()) return make_error("libvirt gave the port no bridge to plug into");
  port->bridge_ = plug->bridge;
  port->tap_name_ = "ftvm" + uuid.substr(0, 8);
  return port;
}

Result<void> LibvirtPort::bind_filter(const std::string& tap) {
  if (handles_->filter.empty()) return {};
  const std::string xml = fmt::format(
      "<filterbinding>\n"
      "  <owner><name>{}</name><uuid>{}</uuid></owner>\n"
      "  <portdev name='{}'/>\n"
      "  <mac address='{}'/>\n"
      "  <filterref filter='{}'/>\n"
      "</filterbinding>\n",
      xml_escaped(handles_->owner_name), handles_->owner_uuid, xml_escaped(tap),
      format_mac(handles_->mac), xml_escaped(handles_->filter));
  handles_->binding.reset(virNWFilterBindingCreateXML(handles_->connection.get(), xml.c_str(), 0));
  if (!handles_->binding) {
    return make_error(fmt::format("cannot bind nwfilter {} to {}: {}", handles_->filter, tap,
                                  last_libvirt_error()));
  }
  return {};
}

Result<std::string> libvirt_volume_path(std::string_view pool_and_volume, const std::string& uri) {
  const size_t slash = pool_and_volume.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == pool_and_volume.size()) {
    return make_error(
        fmt::format("libvirt:{}: name a pool and a volume, libvirt:POOL/VOLUME", pool_and_volume));
  }
  const std::string pool_name(pool_and_volume.substr(0, slash));
  const std::string volume_name(pool_and_volume.substr(slash + 1));
  auto connection = connect(uri);
  if (!connection) return connection.error();
  Pool pool(virStoragePoolLookupByName(connection->get(), pool_name.c_str()));
  if (!pool) {
    return make_error(fmt::format("libvirt storage pool {}: {}", pool_name, last_libvirt_error()));
  }
  Volume volume(virStorageVolLookupByName(pool.get(), volume_name.c_str()));
  if (!volume) {
    return make_error(fmt::format("libvirt volume {} in pool {}: {}", volume_name, pool_name,
                                  last_libvirt_error()));
  }
  CString path(virStorageVolGetPath(volume.get()));
  if (!path) {
    return make_error(fmt::format("libvirt volume {}/{} has no path: {}", pool_name, volume_name,
                                  last_libvirt_error()));
  }
  return std::string(path.get());
}

}  // namespace ftvm
