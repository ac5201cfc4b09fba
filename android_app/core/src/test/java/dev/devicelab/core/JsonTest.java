package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    private static Object roundTrip(Object value) {
        Object compact = Json.parse(Json.write(value));
        Object pretty = Json.parse(Json.pretty(value));
        assertEquals(compact, pretty);
        return compact;
    }

    @Test
    public void nestedDocumentsRoundTrip() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("schema", "devicelab.result/1");
        doc.put("n", Long.valueOf(-42));
        doc.put("x", Double.valueOf(0.1));
        doc.put("ok", Boolean.TRUE);
        doc.put("no", Boolean.FALSE);
        doc.put("nothing", null);
        doc.put("list", new ArrayList<Object>(Arrays.asList((Object) Long.valueOf(1), "two", null,
                new LinkedHashMap<String, Object>(), new ArrayList<Object>())));
        Map<String, Object> inner = new LinkedHashMap<String, Object>();
        inner.put("deep", new ArrayList<Object>(Arrays.asList((Object) Double.valueOf(1.5e-7))));
        doc.put("inner", inner);
        assertEquals(doc, roundTrip(doc));
    }

    @Test
    public void keyOrderIsKept() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("z", Long.valueOf(1));
        doc.put("a", Long.valueOf(2));
        doc.put("m", Long.valueOf(3));
        assertEquals("{\"z\":1,\"a\":2,\"m\":3}", Json.write(doc));
        List<Object> keys = new ArrayList<Object>(((Map<?, ?>) Json.parse(Json.write(doc))).keySet());
        assertEquals(Arrays.asList((Object) "z", "a", "m"), keys);
    }

    @Test
    public void prettyMatchesPythonIndent2() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("a", new ArrayList<Object>(Arrays.asList((Object) Long.valueOf(1), Long.valueOf(2))));
        doc.put("b", new LinkedHashMap<String, Object>());
        doc.put("c", new ArrayList<Object>());
        // json.dumps({"a": [1, 2], "b": {}, "c": []}, indent=2)
        assertEquals("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": []\n}", Json.pretty(doc));
    }

    @Test
    public void stringsAreEscapedAndRead() {
        String tricky = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u0007 nul \u0000 "
                + "e-acute \u00e9 emoji \ud83d\ude00 line-sep \u2028";
        String written = Json.write(tricky);
        assertEquals("\"quote \\\" backslash \\\\ slash / newline \\n tab \\t cr \\r bell \\u0007 nul \\u0000 "
                + "e-acute \u00e9 emoji \ud83d\ude00 line-sep \\u2028\"", written);
        assertEquals(tricky, Json.parse(written));
    }

    @Test
    public void unicodeEscapesIncludingSurrogatePairsAreRead() {
        assertEquals("\u00e9", Json.parse("\"\\u00e9\""));
        assertEquals("\u00e9", Json.parse("\"\\u00E9\""));
        assertEquals("\ud83d\ude00", Json.parse("\"\\ud83d\\ude00\""));
        assertEquals("/\b\f", Json.parse("\"\\/\\b\\f\""));
    }

    @Test
    public void loneSurrogatesAreWrittenAsEscapes() {
        String lone = "a\ud800b";
        assertEquals("\"a\\ud800b\"", Json.write(lone));
        assertEquals(lone, Json.parse(Json.write(lone)));
    }

    @Test
    public void numbersKeepTheirType() {
        assertEquals(Long.valueOf(5), Json.parse("5"));
        assertEquals(Long.valueOf(-5), Json.parse("-5"));
        assertEquals(Long.valueOf(0), Json.parse("0"));
        assertEquals(Double.valueOf(5.0), Json.parse("5.0"));
        assertEquals(Double.valueOf(5e3), Json.parse("5e3"));
        assertEquals(Double.valueOf(-1.25e-3), Json.parse("-1.25E-3"));
        assertEquals(Long.valueOf(Long.MAX_VALUE), Json.parse("9223372036854775807"));
        assertEquals(Double.valueOf(9223372036854775808.0), Json.parse("9223372036854775808"));
    }

    @Test
    public void doublesRoundTripExactly() {
        double[] values = {0.1, 1.0 / 3, 1e-7, 123456.789, 1.7976931348623157E308, 4.9E-324, 2.2250738585072014E-308,
            -0.5, 100.0, 1e21, 0.30000000000000004, 12.345678901234567};
        for (double v : values) {
            Object back = Json.parse(Json.write(Double.valueOf(v)));
            assertEquals("round trip of " + v, v, ((Double) back).doubleValue(), 0.0);
        }
    }

    @Test
    public void floatsAreWrittenShortest() {
        assertEquals("0.1", Json.write(Float.valueOf(0.1f)));
        assertEquals("[1.5,-2.0]", Json.write(new float[] {1.5f, -2f}));
        assertEquals("[1,2]", Json.write(new long[] {1, 2}));
    }

    @Test
    public void nonFiniteNumbersBecomeNull() {
        assertEquals("[null,null,null]", Json.write(new double[] {Double.NaN, Double.POSITIVE_INFINITY,
            Double.NEGATIVE_INFINITY}));
    }

    @Test
    public void whitespaceAndBomAreAccepted() {
        assertEquals(Long.valueOf(1), ((Map<?, ?>) Json.parse("\ufeff \n\t{ \"a\" : 1 } \r\n")).get("a"));
        assertNull(Json.parse(" null "));
    }

    @Test
    public void malformedDocumentsAreRefused() {
        String[] bad = {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}", "01", "1.", ".5", "1e", "-",
            "\"unterminated", "\"bad \\x escape\"", "\"\\u12\"", "\"\\u12zz\"", "\"raw\ncontrol\"", "[1] 2",
            "tru", "nul", "{1:2}", "NaN", "Infinity", "+1"};
        for (String text : bad) {
            try {
                Json.parse(text);
                fail("accepted " + text);
            } catch (Json.ParseException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().contains("offset"));
            }
        }
    }

    @Test
    public void deepNestingIsRefusedNotAStackOverflow() {
        StringBuilder deep = new StringBuilder();
        for (int i = 0; i < 100000; i++) {
            deep.append('[');
        }
        try {
            Json.parse(deep.toString());
            fail("accepted 100000 nested arrays");
        } catch (Json.ParseException expected) {
            assertTrue(expected.getMessage().contains("nesting"));
        }
    }
}
