package dev.devicelab.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertNull;

import java.util.Arrays;
import org.junit.Test;

/** Issue 11: several inputs reach the model input of their name, whatever order the model lists them in. */
public class InputOrderTest {
    @Test
    public void namesDecideWhenTheyAllMatch() {
        assertArrayEquals(new int[] {1, 0}, InputOrder.match(
                Arrays.asList("serving_default_attention_mask:0", "serving_default_input_ids:0"),
                Arrays.asList("input_ids", "attention_mask")));
        assertArrayEquals(new int[] {0, 1}, InputOrder.match(Arrays.asList("input_ids", "attention_mask"),
                Arrays.asList("input_ids", "attention_mask")));
    }

    @Test
    public void otherwiseTheOrderIsTheJobs() {
        assertNull(InputOrder.match(Arrays.asList("serving_default_x:0"), Arrays.asList("image")));
        assertNull(InputOrder.match(Arrays.asList("a", "b"), Arrays.asList("a")));
        assertNull(InputOrder.match(Arrays.asList("a", "a"), Arrays.asList("a", "b")));
    }
}
