// Python's string formatting: the % operator and format filter (printf style), str.format
// (format specifications), and datetime.strftime for strftime_now.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "engine/jinja_builtins.h"
#include "engine/jinja_interpreter.h"
#include "engine/jinja_text.h"

namespace ponder::jinja {

namespace {

// ---- Python format specifications (str.format and format()) ----

struct FormatSpec {
    char32_t fill = ' ';
    char align = 0;
    char sign = '-';
    bool alternate = false;
    bool zero = false;
    std::int64_t width = -1;
    char grouping = 0;
    std::int64_t precision = -1;
    char type = 0;
};

FormatSpec parse_spec(std::string_view spec) {
    FormatSpec f;
    std::vector<char32_t> cps = text::decode_all(spec);
    std::size_t i = 0;
    auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (cps.size() >= 2 && is_align(cps[1])) {
        f.fill = cps[0];
        f.align = static_cast<char>(cps[1]);
        i = 2;
    } else if (!cps.empty() && is_align(cps[0])) {
        f.align = static_cast<char>(cps[0]);
        i = 1;
    }
    if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' '))
        f.sign = static_cast<char>(cps[i++]);
    if (i < cps.size() && cps[i] == '#') f.alternate = true, ++i;
    if (i < cps.size() && cps[i] == '0') f.zero = true, ++i;
    auto number = [&]() {
        std::int64_t n = -1;
        while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') {
            n = (n < 0 ? 0 : n) * 10 + static_cast<std::int64_t>(cps[i++] - '0');
            if (n > 1'000'000'000) fault("format width too large");
        }
        return n;
    };
    f.width = number();
    if (i < cps.size() && (cps[i] == ',' || cps[i] == '_'))
        f.grouping = static_cast<char>(cps[i++]);
    if (i < cps.size() && cps[i] == '.') {
        ++i;
        f.precision = number();
        if (f.precision < 0) fault("Format specifier missing precision");
    }
    if (i < cps.size()) f.type = static_cast<char>(cps[i++]);
    if (i != cps.size()) fault("Invalid format specifier '", spec, "'");
    return f;
}

std::string group_digits(std::string digits, char separator) {
    std::size_t point = digits.find('.');
    std::size_t end = point == std::string::npos ? digits.size() : point;
    std::size_t start = 0;
    while (start < end && (digits[start] < '0' || digits[start] > '9')) ++start;
    for (std::ptrdiff_t k = static_cast<std::ptrdiff_t>(end) - 3;
         k > static_cast<std::ptrdiff_t>(start); k -= 3)
        digits.insert(static_cast<std::size_t>(k), 1, separator);
    return digits;
}

std::string format_with_spec(Renderer& r, const Value& v, std::string_view spec_text) {
    FormatSpec spec = parse_spec(spec_text);
    std::string body;
    std::string sign;
    char default_align = '<';
    if (v.is_number() && !(v.is_bool() && spec.type == 0)) {
        default_align = '>';
        char type = spec.type;
        bool integral = (v.is_int() || v.is_bool());
        if (integral && (type == 0 || type == 'd' || type == 'n' || type == 'x' || type == 'X' ||
                         type == 'o' || type == 'b' || type == 'c')) {
            std::int64_t n = v.as_int();
            unsigned long long mag = n < 0 ? 0ULL - static_cast<unsigned long long>(n)
                                           : static_cast<unsigned long long>(n);
            if (n < 0) sign = "-";
            if (type == 'c') {
                text::append_utf8(body, static_cast<char32_t>(n));
            } else if (type == 'x' || type == 'X' || type == 'o' || type == 'b') {
                int base = type == 'o' ? 8 : (type == 'b' ? 2 : 16);
                const char* digits = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
                do {
                    body.insert(body.begin(), digits[mag % static_cast<unsigned>(base)]);
                    mag /= static_cast<unsigned>(base);
                } while (mag > 0);
                if (spec.alternate)
                    body = std::string("0") +
                           (type == 'o' ? "o" : (type == 'b' ? "b" : (type == 'X' ? "X" : "x"))) +
                           body;
            } else {
                body = std::to_string(mag);
            }
        } else {
            if (type != 0 && std::string_view("eEfFgG%").find(type) == std::string_view::npos)
                fault("Unknown format code '", type, "' for object of type '", v.type_name(), "'");
            double d = v.as_float();
            if (std::signbit(d)) sign = "-";
            d = std::fabs(d);
            if (type == 0 && spec.precision < 0) {
                body = integral ? std::to_string(static_cast<long long>(d)) : text::float_repr(d);
            } else {
                std::int64_t precision = spec.precision < 0 ? 6 : spec.precision;
                char c_type = type == 0 ? 'g' : (type == '%' ? 'f' : type);
                if (type == '%') d *= 100;
                char fmt[48];
                std::snprintf(fmt, sizeof fmt, "%%%s.%lld%c", spec.alternate ? "#" : "",
                              static_cast<long long>(precision), c_type);
                std::vector<char> buf(static_cast<std::size_t>(precision) + 400);
                std::snprintf(buf.data(), buf.size(), fmt, d);
                body = buf.data();
                if (type == '%') body += '%';
            }
        }
        if (sign.empty() && spec.sign == '+') sign = "+";
        if (sign.empty() && spec.sign == ' ') sign = " ";
        if (spec.grouping != 0) body = group_digits(body, spec.grouping);
    } else {
        if (spec.type != 0 && spec.type != 's')
            fault("Unknown format code '", spec.type, "' for object of type '", v.type_name(), "'");
        body = to_str(v, r.value_limits());
        if (spec.precision >= 0) {
            std::vector<char32_t> cps = text::decode_all(body);
            if (static_cast<std::int64_t>(cps.size()) > spec.precision) {
                cps.resize(static_cast<std::size_t>(spec.precision));
                body = text::encode_all(cps);
            }
        }
    }
    char align =
        spec.align != 0 ? spec.align : (spec.zero && default_align == '>' ? '=' : default_align);
    char32_t fill = spec.align != 0 ? spec.fill : (spec.zero ? U'0' : U' ');
    std::int64_t len = static_cast<std::int64_t>(text::length(sign) + text::length(body));
    std::int64_t missing = spec.width > len ? spec.width - len : 0;
    if (static_cast<std::size_t>(missing) > r.limits().max_output_bytes)
        fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    std::string fill_text;
    auto fill_n = [&](std::int64_t n) {
        std::string out;
        for (std::int64_t k = 0; k < n; ++k) text::append_utf8(out, fill);
        return out;
    };
    switch (align) {
        case '<':
            return sign + body + fill_n(missing);
        case '^':
            return fill_n(missing / 2) + sign + body + fill_n(missing - missing / 2);
        case '=':
            return sign + fill_n(missing) + body;
        default:
            return fill_n(missing) + sign + body;
    }
}

}  // namespace

// ---- printf-style formatting ----

std::string percent_format(Renderer& r, std::string_view fmt, const Value& values) {
    ValueList args;
    const Value* mapping = nullptr;
    if (values.is_tuple()) {
        args = values.as_list();
    } else {
        if (values.is_dict()) mapping = &values;
        args.push_back(values);
    }
    std::size_t next_arg = 0;
    std::string out;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (++i >= fmt.size()) fault("incomplete format");
        if (fmt[i] == '%') {
            out += '%';
            continue;
        }
        const Value* arg = nullptr;
        if (fmt[i] == '(') {
            std::size_t close = fmt.find(')', i);
            if (close == std::string_view::npos) fault("incomplete format key");
            if (mapping == nullptr) fault("format requires a mapping");
            std::string key(fmt.substr(i + 1, close - i - 1));
            arg = mapping->find(key);
            if (arg == nullptr) fault("KeyError: '", key, "'");
            i = close + 1;
        }
        std::string flags;
        while (i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos)
            flags += fmt[i++];
        std::string width;
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width += fmt[i++];
        std::string precision;
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            precision = "0";
            while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') precision += fmt[i++];
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) fault("incomplete format");
        if (width.size() > 6 || precision.size() > 6) fault("format width too large");
        char type = fmt[i];
        if (arg == nullptr) {
            if (next_arg >= args.size()) fault("not enough arguments for format string");
            arg = &args[next_arg++];
        }
        std::string piece;
        switch (type) {
            case 's':
            case 'r':
            case 'a': {
                if (type == 's') {
                    piece = to_str(*arg, r.value_limits());
                } else {
                    append_repr(piece, *arg, r.value_limits());
                }
                if (!precision.empty()) {
                    std::vector<char32_t> cps = text::decode_all(piece);
                    std::size_t keep = std::stoul(precision);
                    if (cps.size() > keep) {
                        cps.resize(keep);
                        piece = text::encode_all(cps);
                    }
                }
                std::size_t w = width.empty() ? 0 : std::stoul(width);
                std::size_t len = text::length(piece);
                if (len < w) {
                    if (flags.find('-') != std::string::npos) {
                        piece.append(w - len, ' ');
                    } else {
                        piece.insert(0, w - len, ' ');
                    }
                }
                break;
            }
            case 'd':
            case 'i':
            case 'u':
            case 'x':
            case 'X':
            case 'o':
            case 'c': {
                if (!arg->is_number())
                    fault("%", type, " format: a real number is required, not ", arg->type_name());
                if ((type == 'x' || type == 'X' || type == 'o' || type == 'c') && arg->is_float())
                    fault("%", type, " format: an integer is required, not float");
                std::int64_t n = arg->is_float()
                                     ? static_cast<std::int64_t>(std::trunc(arg->as_float()))
                                     : arg->as_int();
                char conv = (type == 'i' || type == 'u') ? 'd' : type;
                std::string c_fmt =
                    "%" + flags + width + (precision.empty() ? "" : "." + precision) + "ll" + conv;
                if (type == 'c') c_fmt = "%" + flags + width + "c";
                char buf[128];
                if (type == 'c') {
                    std::snprintf(buf, sizeof buf, c_fmt.c_str(), static_cast<int>(n));
                } else {
                    std::snprintf(buf, sizeof buf, c_fmt.c_str(), static_cast<long long>(n));
                }
                piece = buf;
                break;
            }
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G': {
                if (!arg->is_number()) fault("must be real number, not ", arg->type_name());
                std::string c_fmt =
                    "%" + flags + width + (precision.empty() ? "" : "." + precision) + type;
                std::vector<char> buf(512 + (precision.empty() ? 0 : std::stoul(precision)));
                std::snprintf(buf.data(), buf.size(), c_fmt.c_str(), arg->as_float());
                piece = buf.data();
                break;
            }
            default:
                fault("unsupported format character '", type, "'");
        }
        out += piece;
        if (out.size() > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    }
    // Python skips this check for anything with __getitem__ that is not a tuple (dicts, lists).
    const bool lenient = values.is_dict() || (values.is_list() && !values.is_tuple());
    if (!lenient && next_arg < args.size())
        fault("not all arguments converted during string formatting");
    return out;
}

std::string brace_format(Renderer& r, std::string_view fmt, const CallArgs& args) {
    std::string out;
    std::size_t auto_index = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            fault("Single '}' encountered in format string");
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        std::size_t close = fmt.find('}', i);
        if (close == std::string_view::npos) fault("Single '{' encountered in format string");
        std::string_view field = fmt.substr(i + 1, close - i - 1);
        i = close;
        std::string_view spec;
        char conversion = 0;
        if (std::size_t colon = field.find(':'); colon != std::string_view::npos) {
            spec = field.substr(colon + 1);
            field = field.substr(0, colon);
        }
        if (std::size_t bang = field.find('!'); bang != std::string_view::npos) {
            if (bang + 2 != field.size()) fault("expected ':' after conversion specifier");
            conversion = field[bang + 1];
            field = field.substr(0, bang);
        }
        std::size_t name_end = field.find_first_of(".[");
        std::string_view head = field.substr(0, name_end);
        Value v;
        if (head.empty()) {
            if (auto_index >= args.positional.size())
                fault("Replacement index ", auto_index, " out of range for positional args tuple");
            v = args.positional[auto_index++];
        } else if (std::all_of(head.begin(), head.end(),
                               [](char ch) { return ch >= '0' && ch <= '9'; })) {
            std::size_t index = std::stoul(std::string(head));
            if (index >= args.positional.size())
                fault("Replacement index ", index, " out of range for positional args tuple");
            v = args.positional[index];
        } else {
            auto it = std::find_if(args.keywords.begin(), args.keywords.end(),
                                   [&](const auto& kw) { return kw.first == head; });
            if (it == args.keywords.end()) fault("KeyError: '", head, "'");
            v = it->second;
        }
        std::string_view rest =
            name_end == std::string_view::npos ? std::string_view() : field.substr(name_end);
        while (!rest.empty()) {
            if (rest[0] == '.') {
                std::size_t end = rest.find_first_of(".[", 1);
                v = r.attribute(
                    v, rest.substr(
                           1, end == std::string_view::npos ? std::string_view::npos : end - 1));
                rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
            } else {
                std::size_t end = rest.find(']');
                if (end == std::string_view::npos) fault("Missing ']' in format string");
                std::string_view key = rest.substr(1, end - 1);
                bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
                    return ch >= '0' && ch <= '9';
                });
                v = r.item(v, numeric ? Value::integer(std::stoll(std::string(key)))
                                      : Value::string(std::string(key)));
                rest = rest.substr(end + 1);
            }
        }
        if (conversion == 'r' || conversion == 'a') {
            std::string shown;
            append_repr(shown, v, r.value_limits());
            v = Value::string(std::move(shown));
        } else if (conversion == 's') {
            v = Value::string(to_str(v, r.value_limits()));
        } else if (conversion != 0) {
            fault("Unknown conversion specifier ", conversion);
        }
        if (v.is_undefined() && spec.empty()) continue;
        out += format_with_spec(r, v, spec);
        if (out.size() > r.limits().max_output_bytes)
            fault("string of more than ", r.limits().max_output_bytes, " bytes (rendering limit)");
    }
    return out;
}

// ---- strftime ----

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

// ISO 8601 week-based year and week number.
std::pair<int, int> iso_week(const std::tm& tm) {
    int year = tm.tm_year + 1900;
    int weekday = (tm.tm_wday + 6) % 7;  // Monday = 0
    int week = (tm.tm_yday - weekday + 10) / 7;
    auto weeks_in = [](int y) {
        auto p = [](int yy) { return (yy + yy / 4 - yy / 100 + yy / 400) % 7; };
        return (p(y) == 4 || p(y - 1) == 3) ? 53 : 52;
    };
    if (week < 1) {
        --year;
        week = weeks_in(year);
    } else if (week > weeks_in(year)) {
        ++year;
        week = 1;
    }
    return {year, week};
}

}  // namespace

std::string format_time(std::string_view format, std::chrono::system_clock::time_point when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    localtime_r(&seconds, &tm);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            when.time_since_epoch() - std::chrono::seconds(seconds))
                            .count();
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%' || i + 1 >= format.size()) {
            out += format[i];
            continue;
        }
        std::size_t start = i;
        char flag = 0;
        if (std::string_view("-_0^#").find(format[i + 1]) != std::string_view::npos &&
            i + 2 < format.size())
            flag = format[++i];
        char spec = format[++i];
        auto number = [&](long long value, int width, char padding) {
            if (flag == '-') return std::to_string(value);
            if (flag == '_') padding = ' ';
            if (flag == '0') padding = '0';
            std::string digits = std::to_string(value);
            if (static_cast<int>(digits.size()) < width)
                digits.insert(0, static_cast<std::size_t>(width) - digits.size(), padding);
            return digits;
        };
        auto name = [&](std::string_view full, bool abbreviated) {
            std::string s(abbreviated ? full.substr(0, 3) : full);
            if (flag == '^' || flag == '#') s = text::upper(s);
            return s;
        };
        int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
        switch (spec) {
            case 'a':
                out += name(kDayNames[static_cast<std::size_t>(tm.tm_wday)], true);
                break;
            case 'A':
                out += name(kDayNames[static_cast<std::size_t>(tm.tm_wday)], false);
                break;
            case 'b':
            case 'h':
                out += name(kMonthNames[static_cast<std::size_t>(tm.tm_mon)], true);
                break;
            case 'B':
                out += name(kMonthNames[static_cast<std::size_t>(tm.tm_mon)], false);
                break;
            case 'c':
                out += format_time("%a %b %e %H:%M:%S %Y", when);
                break;
            case 'C':
                out += number((tm.tm_year + 1900) / 100, 2, '0');
                break;
            case 'd':
                out += number(tm.tm_mday, 2, '0');
                break;
            case 'D':
            case 'x':
                out += format_time("%m/%d/%y", when);
                break;
            case 'e':
                out += number(tm.tm_mday, 2, ' ');
                break;
            case 'f':
                out += number(micros, 6, '0');
                break;
            case 'F':
                out += format_time("%Y-%m-%d", when);
                break;
            case 'G':
                out += number(iso_week(tm).first, 4, '0');
                break;
            case 'g':
                out += number(iso_week(tm).first % 100, 2, '0');
                break;
            case 'H':
                out += number(tm.tm_hour, 2, '0');
                break;
            case 'I':
                out += number(hour12, 2, '0');
                break;
            case 'j':
                out += number(tm.tm_yday + 1, 3, '0');
                break;
            case 'k':
                out += number(tm.tm_hour, 2, ' ');
                break;
            case 'l':
                out += number(hour12, 2, ' ');
                break;
            case 'm':
                out += number(tm.tm_mon + 1, 2, '0');
                break;
            case 'M':
                out += number(tm.tm_min, 2, '0');
                break;
            case 'n':
                out += '\n';
                break;
            case 'p':
                out += tm.tm_hour < 12 ? "AM" : "PM";
                break;
            case 'P':
                out += tm.tm_hour < 12 ? "am" : "pm";
                break;
            case 'r':
                out += format_time("%I:%M:%S %p", when);
                break;
            case 'R':
                out += format_time("%H:%M", when);
                break;
            case 's':
                out += std::to_string(static_cast<long long>(seconds));
                break;
            case 'S':
                out += number(tm.tm_sec, 2, '0');
                break;
            case 't':
                out += '\t';
                break;
            case 'T':
            case 'X':
                out += format_time("%H:%M:%S", when);
                break;
            case 'u':
                out += number(tm.tm_wday == 0 ? 7 : tm.tm_wday, 1, '0');
                break;
            case 'U':
                out += number((tm.tm_yday + 7 - tm.tm_wday) / 7, 2, '0');
                break;
            case 'V':
                out += number(iso_week(tm).second, 2, '0');
                break;
            case 'w':
                out += number(tm.tm_wday, 1, '0');
                break;
            case 'W':
                out += number((tm.tm_yday + 7 - (tm.tm_wday + 6) % 7) / 7, 2, '0');
                break;
            case 'y':
                out += number((tm.tm_year + 1900) % 100, 2, '0');
                break;
            case 'Y':
                out += number(tm.tm_year + 1900, 4, '0');
                break;
            case 'z':
            case 'Z':
                break;  // Python's naive datetime has no zone
            case '%':
                out += '%';
                break;
            default:
                out.append(format.substr(start, i - start + 1));
                break;
        }
    }
    return out;
}

}  // namespace ponder::jinja
