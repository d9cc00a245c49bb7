#include "client/perf/perf_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace seqserve::perf {
namespace {

std::string FormatLoad(const PerfSettings& settings, double load) {
  return settings.open_loop ? absl::StrFormat("%g", load) : absl::StrFormat("%.0f", load);
}

std::string ErrorsText(const StepResult& step) {
  if (step.error_total == 0) return "0";
  std::string text = absl::StrCat(step.error_total, " (");
  bool first = true;
  for (int c = 0; c < kNumStatusCodes; ++c) {
    if (step.errors[c] == 0) continue;
    absl::StrAppend(&text, first ? "" : ", ", StatusCodeName(c), " ", step.errors[c]);
    first = false;
  }
  return text + ")";
}

std::string CpuText(double us) { return us < 0 ? "-" : absl::StrFormat("%.1f", us); }

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Tick labels stay short: 15000 -> "15k", 2.5 -> "2.5".
std::string TickLabel(double v) {
  if (std::abs(v) >= 1000 && std::fmod(v, 100) == 0) return absl::StrFormat("%gk", v / 1000);
  return absl::StrFormat("%g", v);
}

}  // namespace

std::string LoadName(const PerfSettings& settings) {
  return settings.open_loop ? "request_rate" : "concurrency";
}

std::string FormatStep(const PerfSettings& settings, const StepResult& step) {
  std::string line = absl::StrFormat(
      "%s: %s, throughput: %.1f infer/s (%.1f samples/s), latency us: p50 %.0f p90 %.0f "
      "p95 %.0f p99 %.0f max %.0f, errors: %s, client CPU %s us/req",
      settings.open_loop ? "Request rate" : "Concurrency", FormatLoad(settings, step.load),
      step.throughput_infer_per_s, step.throughput_samples_per_s, step.latency.p50_us,
      step.latency.p90_us, step.latency.p95_us, step.latency.p99_us, step.latency.max_us,
      ErrorsText(step), CpuText(step.client_cpu_us_per_request));
  if (step.server_cpu_us_per_request >= 0) {
    absl::StrAppend(&line, ", server CPU ", CpuText(step.server_cpu_us_per_request), " us/req");
  }
  if (step.dropped > 0) {
    absl::StrAppend(&line, ", ", step.dropped, " sends dropped (all slots busy)");
  }
  if (!step.stable) {
    absl::StrAppend(&line, " [unstable after ", step.windows_measured, " windows]");
  }
  return line;
}

std::string FormatTable(const PerfSettings& settings, std::span<const StepResult> steps) {
  std::string out = absl::StrFormat("%12s %12s %12s %9s %9s %9s %9s %9s %8s %11s %11s\n",
                                    settings.open_loop ? "rate/s" : "concurrency", "infer/s",
                                    "samples/s", "p50 us", "p90 us", "p95 us", "p99 us",
                                    "max us", "errors", "client us/r", "server us/r");
  for (const StepResult& s : steps) {
    absl::StrAppend(&out, absl::StrFormat(
        "%12s %12.1f %12.1f %9.0f %9.0f %9.0f %9.0f %9.0f %8d %11s %11s%s\n",
        FormatLoad(settings, s.load), s.throughput_infer_per_s, s.throughput_samples_per_s,
        s.latency.p50_us, s.latency.p90_us, s.latency.p95_us, s.latency.p99_us,
        s.latency.max_us, s.error_total, CpuText(s.client_cpu_us_per_request),
        CpuText(s.server_cpu_us_per_request), s.stable ? "" : "  (unstable)"));
  }
  return out;
}

void WriteCsv(std::ostream& out, const PerfSettings& settings,
              std::span<const StepResult> steps) {
  out << LoadName(settings)
      << ",infer_per_sec,samples_per_sec,p50_us,p90_us,p95_us,p99_us,max_us,mean_us,requests,"
         "errors,dropped,client_cpu_us_per_request,server_cpu_us_per_request,stable\n";
  for (const StepResult& s : steps) {
    out << absl::StrFormat("%g,%.2f,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%d,%d,%d,%.2f,%s,%s\n",
                           s.load, s.throughput_infer_per_s, s.throughput_samples_per_s,
                           s.latency.p50_us, s.latency.p90_us, s.latency.p95_us,
                           s.latency.p99_us, s.latency.max_us, s.latency.mean_us, s.requests,
                           s.error_total, s.dropped, s.client_cpu_us_per_request,
                           s.server_cpu_us_per_request < 0
                               ? std::string()
                               : absl::StrFormat("%.2f", s.server_cpu_us_per_request),
                           s.stable ? "true" : "false");
  }
}

void WriteJson(std::ostream& out, const PerfSettings& settings,
               std::span<const StepResult> steps) {
  nlohmann::ordered_json j;
  auto& set = j["settings"];
  set["url"] = settings.url;
  set["model"] = settings.model;
  set["version"] = settings.version;
  set["batch_size"] = settings.batch_size;
  set["shape"] = settings.shape;
  set["protocol"] = settings.streaming ? "streaming" : "unary";
  set["load_mode"] = settings.open_loop ? "request_rate" : "concurrency";
  if (settings.open_loop) set["arrivals"] = settings.arrivals;
  set["measurement_ms"] = settings.measurement_ms;
  set["warmup_s"] = settings.warmup_s;
  set["stability_windows"] = settings.stability.windows;
  set["stability_tolerance"] = settings.stability.tolerance;
  set["max_windows"] = settings.stability.max_windows;
  j["steps"] = nlohmann::ordered_json::array();
  for (const StepResult& s : steps) {
    nlohmann::ordered_json step;
    if (settings.open_loop) {
      step[LoadName(settings)] = s.load;
    } else {
      step[LoadName(settings)] = std::lround(s.load);
    }
    step["throughput_infer_per_sec"] = s.throughput_infer_per_s;
    step["throughput_samples_per_sec"] = s.throughput_samples_per_s;
    step["latency_us"] = {{"p50", s.latency.p50_us}, {"p90", s.latency.p90_us},
                          {"p95", s.latency.p95_us}, {"p99", s.latency.p99_us},
                          {"max", s.latency.max_us}, {"mean", s.latency.mean_us}};
    step["requests"] = s.requests;
    step["duration_s"] = s.duration_s;
    nlohmann::ordered_json errors = nlohmann::ordered_json::object();
    for (int c = 0; c < kNumStatusCodes; ++c) {
      if (s.errors[c] > 0) errors[StatusCodeName(c)] = s.errors[c];
    }
    step["errors"] = errors;
    step["dropped"] = s.dropped;
    step["client_cpu_us_per_request"] = s.client_cpu_us_per_request;
    if (s.server_cpu_us_per_request >= 0) {
      step["server_cpu_us_per_request"] = s.server_cpu_us_per_request;
    } else {
      step["server_cpu_us_per_request"] = nullptr;
    }
    step["stable"] = s.stable;
    step["windows_measured"] = s.windows_measured;
    j["steps"].push_back(std::move(step));
  }
  out << j.dump(2) << "\n";
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1;
  target = std::max(target, 1);
  const double raw = (hi - lo) / target;
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  double mantissa = 10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    mantissa = m;
    if (m * std::pow(10.0, exponent) >= raw) break;
  }
  // Ticks are k * mantissa * 10^exponent; dividing by 10^-exponent for small steps keeps
  // them the doubles nearest to the decimal values (0.6, not 0.6000000000000001).
  const double scale = std::pow(10.0, std::abs(exponent));
  auto tick = [&](int64_t k) {
    const double units = static_cast<double>(k) * mantissa;
    return exponent < 0 ? units / scale : units * scale;
  };
  const double step = tick(1);
  const auto first = static_cast<int64_t>(std::floor(lo / step + 1e-9));
  const auto last = static_cast<int64_t>(std::ceil(hi / step - 1e-9));
  std::vector<double> ticks;
  for (int64_t k = first; k <= last; ++k) ticks.push_back(tick(k));
  return ticks;
}

void WriteSvgPlot(std::ostream& out, const PerfSettings& settings,
                  std::span<const StepResult> steps) {
  constexpr double kWidth = 720, kHeight = 440;
  constexpr double kLeft = 80, kRight = 30, kTop = 56, kBottom = 62;
  constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
  constexpr const char* kP50Color = "#1f77b4";
  constexpr const char* kP99Color = "#d62728";

  double max_tp = 0, max_lat_us = 0;
  for (const StepResult& s : steps) {
    max_tp = std::max(max_tp, s.throughput_infer_per_s);
    max_lat_us = std::max({max_lat_us, s.latency.p99_us, s.latency.p50_us});
  }
  // Milliseconds once microsecond labels would get long.
  const bool in_ms = max_lat_us >= 10000;
  const double lat_scale = in_ms ? 1e-3 : 1.0;
  const std::vector<double> xticks = NiceTicks(0, max_tp > 0 ? max_tp : 1);
  const std::vector<double> yticks = NiceTicks(0, max_lat_us > 0 ? max_lat_us * lat_scale : 1);
  const double xmax = xticks.back(), ymax = yticks.back();
  auto px = [&](double tp) { return kLeft + tp / xmax * kPlotW; };
  auto py = [&](double lat_us) { return kTop + kPlotH - lat_us * lat_scale / ymax * kPlotH; };

  out << absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight, kWidth, kHeight);
  out << absl::StrFormat("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", kWidth,
                         kHeight);
  const std::string title = absl::StrFormat(
      "seqperf: %s, batch %d, %s, %s", settings.model, settings.batch_size,
      settings.streaming ? "streaming" : "unary",
      settings.open_loop ? "request rate sweep" : "concurrency sweep");
  out << absl::StrFormat(
      "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" "
      "font-weight=\"bold\">%s</text>\n",
      kWidth / 2, XmlEscape(title));

  // Grid and ticks.
  for (double t : xticks) {
    const double x = px(t);
    out << absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", x, kTop,
        x, kTop + kPlotH);
    out << absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x,
        kTop + kPlotH, x, kTop + kPlotH + 5);
    out << absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                           kTop + kPlotH + 19, TickLabel(t));
  }
  for (double t : yticks) {
    const double y = kTop + kPlotH - t / ymax * kPlotH;
    out << absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", kLeft, y,
        kLeft + kPlotW, y);
    out << absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", kLeft - 5,
        y, kLeft, y);
    out << absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                           kLeft - 8, y + 4, TickLabel(t));
  }
  // Axes and their titles.
  out << absl::StrFormat(
      "<polyline points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"none\" stroke=\"black\"/>\n",
      kLeft, kTop, kLeft, kTop + kPlotH, kLeft + kPlotW, kTop + kPlotH);
  out << absl::StrFormat(
      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">Throughput (infer/s)</text>\n",
      kLeft + kPlotW / 2, kHeight - 16);
  out << absl::StrFormat(
      "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
      "Latency (%s)</text>\n",
      kTop + kPlotH / 2, kTop + kPlotH / 2, in_ms ? "ms" : "\xC2\xB5s");

  // Series: p50 and p99 against throughput, in step order, each point labelled with its load.
  auto series = [&](const char* color, auto latency_of, bool label) {
    std::string points;
    for (const StepResult& s : steps) {
      absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", px(s.throughput_infer_per_s),
                                               py(latency_of(s))));
    }
    out << absl::StrFormat(
        "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", points,
        color);
    for (const StepResult& s : steps) {
      const double x = px(s.throughput_infer_per_s), y = py(latency_of(s));
      out << absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", x, y,
                             color);
      if (label) {
        out << absl::StrFormat(
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">%s</text>\n", x + 5,
            y + 14, XmlEscape(FormatLoad(settings, s.load)));
      }
    }
  };
  series(kP50Color, [](const StepResult& s) { return s.latency.p50_us; }, true);
  series(kP99Color, [](const StepResult& s) { return s.latency.p99_us; }, false);

  // Legend, top left inside the plot.
  const double lx = kLeft + 12, ly = kTop + 10;
  out << absl::StrFormat(
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"190\" height=\"62\" fill=\"white\" "
      "stroke=\"#999\"/>\n",
      lx, ly);
  const std::pair<const char*, const char*> entries[] = {{kP50Color, "p50 latency"},
                                                         {kP99Color, "p99 latency"}};
  for (int i = 0; i < 2; ++i) {
    const double y = ly + 16 + i * 18;
    out << absl::StrFormat(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        "stroke-width=\"2\"/>\n",
        lx + 8, y, lx + 32, y, entries[i].first);
    out << absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + 40, y + 4,
                           entries[i].second);
  }
  out << absl::StrFormat(
      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">point labels: %s</text>\n",
      lx + 8, ly + 54, settings.open_loop ? "request rate (/s)" : "concurrency");
  out << "</svg>\n";
}

}  // namespace seqserve::perf
