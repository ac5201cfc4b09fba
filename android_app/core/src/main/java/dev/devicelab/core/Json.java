package dev.devicelab.core;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer, enough for job.json and result.json, with no dependencies.
 *
 * <p>Values map to Java as: object -> {@code LinkedHashMap<String, Object>} (key order kept), array ->
 * {@code ArrayList<Object>}, string -> {@code String}, number -> {@code Long} when it is an integer that
 * fits, else {@code Double}, true/false -> {@code Boolean}, null -> {@code null}.
 *
 * <p>The writer accepts those plus any {@code Map}, {@code Collection}, primitive arrays and
 * {@code Number}. Doubles are written with {@link Double#toString(double)}, which reads back to the same
 * double; NaN and infinities have no JSON form and are written as null.
 */
public final class Json {
    private static final int MAX_DEPTH = 512;

    private Json() {}

    /** A document that is not valid JSON; the message names the offset. */
    public static final class ParseException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public final int offset;

        ParseException(String message, int offset) {
            super(message + " at offset " + offset);
            this.offset = offset;
        }
    }

    // --- reading -----------------------------------------------------------------------------------------

    public static Object parse(String text) {
        Parser parser = new Parser(text);
        parser.skipWhitespace();
        if (parser.pos < text.length() && text.charAt(parser.pos) == '\uFEFF') {
            parser.pos++; // a UTF-8 byte order mark some editors add
            parser.skipWhitespace();
        }
        Object value = parser.value(0);
        parser.skipWhitespace();
        if (parser.pos != text.length()) {
            throw new ParseException("unexpected content after the JSON value", parser.pos);
        }
        return value;
    }

    private static final class Parser {
        private final String s;
        int pos;

        Parser(String s) {
            this.s = s;
        }

        void skipWhitespace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                    pos++;
                } else {
                    break;
                }
            }
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw new ParseException("nesting deeper than " + MAX_DEPTH, pos);
            }
            if (pos >= s.length()) {
                throw new ParseException("unexpected end of input", pos);
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                case 'n':
                    literal("null");
                    return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw new ParseException("unexpected character '" + printable(c) + "'", pos);
            }
        }

        private void literal(String word) {
            if (!s.startsWith(word, pos)) {
                throw new ParseException("expected " + word, pos);
            }
            pos += word.length();
        }

        private Map<String, Object> object(int depth) {
            Map<String, Object> map = new LinkedHashMap<String, Object>();
            pos++; // {
            skipWhitespace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipWhitespace();
                if (peek() != '"') {
                    throw new ParseException("expected a string key", pos);
                }
                String key = string();
                skipWhitespace();
                expect(':');
                skipWhitespace();
                map.put(key, value(depth + 1));
                skipWhitespace();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == '}') {
                    pos++;
                    return map;
                } else {
                    throw new ParseException("expected ',' or '}'", pos);
                }
            }
        }

        private List<Object> array(int depth) {
            List<Object> list = new ArrayList<Object>();
            pos++; // [
            skipWhitespace();
            if (peek() == ']') {
                pos++;
                return list;
            }
            while (true) {
                skipWhitespace();
                list.add(value(depth + 1));
                skipWhitespace();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == ']') {
                    pos++;
                    return list;
                } else {
                    throw new ParseException("expected ',' or ']'", pos);
                }
            }
        }

        private char peek() {
            if (pos >= s.length()) {
                throw new ParseException("unexpected end of input", pos);
            }
            return s.charAt(pos);
        }

        private void expect(char c) {
            if (peek() != c) {
                throw new ParseException("expected '" + c + "'", pos);
            }
            pos++;
        }

        private String string() {
            int start = pos;
            pos++; // opening quote
            StringBuilder out = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw new ParseException("unterminated string", start);
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return out.toString();
                }
                if (c == '\\') {
                    if (pos >= s.length()) {
                        throw new ParseException("unterminated string", start);
                    }
                    char e = s.charAt(pos++);
                    switch (e) {
                        case '"':
                            out.append('"');
                            break;
                        case '\\':
                            out.append('\\');
                            break;
                        case '/':
                            out.append('/');
                            break;
                        case 'b':
                            out.append('\b');
                            break;
                        case 'f':
                            out.append('\f');
                            break;
                        case 'n':
                            out.append('\n');
                            break;
                        case 'r':
                            out.append('\r');
                            break;
                        case 't':
                            out.append('\t');
                            break;
                        case 'u':
                            // Surrogate pairs arrive as two escapes and join by themselves in UTF-16.
                            out.append(hex4());
                            break;
                        default:
                            throw new ParseException("invalid escape '\\" + printable(e) + "'", pos - 2);
                    }
                } else if (c < 0x20) {
                    throw new ParseException("control character in a string must be escaped", pos - 1);
                } else {
                    out.append(c);
                }
            }
        }

        private char hex4() {
            if (pos + 4 > s.length()) {
                throw new ParseException("truncated \\u escape", pos);
            }
            int value = 0;
            for (int i = 0; i < 4; i++) {
                int digit = Character.digit(s.charAt(pos + i), 16);
                if (digit < 0) {
                    throw new ParseException("invalid \\u escape", pos);
                }
                value = value * 16 + digit;
            }
            pos += 4;
            return (char) value;
        }

        private Object number() {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            if (pos >= s.length()) {
                throw new ParseException("invalid number", start);
            }
            char first = s.charAt(pos);
            if (first == '0') {
                pos++;
            } else if (first >= '1' && first <= '9') {
                digits();
            } else {
                throw new ParseException("invalid number", start);
            }
            boolean integer = true;
            if (pos < s.length() && s.charAt(pos) == '.') {
                integer = false;
                pos++;
                if (digits() == 0) {
                    throw new ParseException("digits expected after '.'", pos);
                }
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                integer = false;
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                if (digits() == 0) {
                    throw new ParseException("digits expected in the exponent", pos);
                }
            }
            String text = s.substring(start, pos);
            if (integer) {
                try {
                    return Long.valueOf(Long.parseLong(text));
                } catch (NumberFormatException tooBig) {
                    return Double.valueOf(Double.parseDouble(text));
                }
            }
            return Double.valueOf(Double.parseDouble(text));
        }

        private int digits() {
            int count = 0;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
                count++;
            }
            return count;
        }
    }

    private static String printable(char c) {
        return c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c);
    }

    // --- writing -----------------------------------------------------------------------------------------

    /** Compact JSON. */
    public static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, -1, 0);
        return out.toString();
    }

    /** JSON indented by two spaces, laid out like Python's {@code json.dumps(doc, indent=2)}. */
    public static String pretty(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 2, 0);
        return out.toString();
    }

    private static void newline(StringBuilder out, int indent, int level) {
        if (indent < 0) {
            return;
        }
        out.append('\n');
        for (int i = 0; i < indent * level; i++) {
            out.append(' ');
        }
    }

    private static void write(StringBuilder out, Object value, int indent, int level) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String) {
            quote(out, (String) value);
        } else if (value instanceof Boolean) {
            out.append(((Boolean) value).booleanValue() ? "true" : "false");
        } else if (value instanceof Double || value instanceof Float) {
            number(out, ((Number) value).doubleValue(), value instanceof Float);
        } else if (value instanceof Number) {
            out.append(((Number) value).longValue());
        } else if (value instanceof Map) {
            Map<?, ?> map = (Map<?, ?>) value;
            if (map.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                newline(out, indent, level + 1);
                quote(out, String.valueOf(entry.getKey()));
                out.append(indent < 0 ? ":" : ": ");
                write(out, entry.getValue(), indent, level + 1);
            }
            newline(out, indent, level);
            out.append('}');
        } else if (value instanceof Collection) {
            writeList(out, new ArrayList<Object>((Collection<?>) value), indent, level);
        } else if (value.getClass().isArray()) {
            writeList(out, arrayToList(value), indent, level);
        } else {
            throw new IllegalArgumentException("cannot write " + value.getClass().getName() + " as JSON");
        }
    }

    private static void writeList(StringBuilder out, List<Object> list, int indent, int level) {
        if (list.isEmpty()) {
            out.append("[]");
            return;
        }
        out.append('[');
        for (int i = 0; i < list.size(); i++) {
            if (i > 0) {
                out.append(',');
            }
            newline(out, indent, level + 1);
            write(out, list.get(i), indent, level + 1);
        }
        newline(out, indent, level);
        out.append(']');
    }

    private static List<Object> arrayToList(Object array) {
        List<Object> list = new ArrayList<Object>();
        if (array instanceof Object[]) {
            for (Object o : (Object[]) array) {
                list.add(o);
            }
        } else if (array instanceof float[]) {
            for (float f : (float[]) array) {
                list.add(Float.valueOf(f));
            }
        } else if (array instanceof double[]) {
            for (double d : (double[]) array) {
                list.add(Double.valueOf(d));
            }
        } else if (array instanceof long[]) {
            for (long l : (long[]) array) {
                list.add(Long.valueOf(l));
            }
        } else if (array instanceof int[]) {
            for (int i : (int[]) array) {
                list.add(Integer.valueOf(i));
            }
        } else if (array instanceof boolean[]) {
            for (boolean b : (boolean[]) array) {
                list.add(Boolean.valueOf(b));
            }
        } else {
            throw new IllegalArgumentException("cannot write " + array.getClass().getName() + " as JSON");
        }
        return list;
    }

    private static void number(StringBuilder out, double d, boolean isFloat) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            out.append("null");
        } else if (isFloat) {
            out.append(Float.toString((float) d)); // the shortest text that reads back to this float
        } else {
            out.append(Double.toString(d)); // reads back to exactly this double ("1.0E-5" is valid JSON)
        }
    }

    private static void quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                default:
                    if (c < 0x20 || c == '\u2028' || c == '\u2029' || isLoneSurrogate(s, i)) {
                        // U+2028/2029 break JavaScript string literals; a lone surrogate has no UTF-8 form.
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    private static boolean isLoneSurrogate(String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c)) {
            return i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
        }
        if (Character.isLowSurrogate(c)) {
            return i == 0 || !Character.isHighSurrogate(s.charAt(i - 1));
        }
        return false;
    }
}
