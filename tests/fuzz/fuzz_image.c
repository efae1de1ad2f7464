/* libFuzzer target for image decoding and resizing: any bytes through pdl_image_decode (to the
 * file's channels, gray or color, chosen by the input's length), then every resize mode to small
 * sizes and a PNG round trip of the result, which must give the same pixels back. Owns no
 * checks of meaning beyond that: "never crash, never leak, never read out of bounds". */
#include "data/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(const pdl_image *img)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    pdl_image back;
    if (pdl_image_encode_png(img, 1, &bytes, &size) != PDL_OK)
        abort();
    if (pdl_image_decode(bytes, size, 0, "round trip", &back) != PDL_OK ||
        back.channels != img->channels ||
        memcmp(back.data, img->data, (size_t)img->channels * img->width * img->height) != 0)
        abort();
    pdl_image_free(&back);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int channels_of[3] = {0, 1, 3};
    static const int sizes[][2] = {{7, 5}, {3, 11}, {16, 16}};
    pdl_image img;
    if (pdl_image_decode(data, size, channels_of[size % 3], "fuzz", &img) != PDL_OK)
        return 0;
    for (int m = PDL_RESIZE_SQUASH; m <= PDL_RESIZE_HALF_CROP; m++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            pdl_image out;
            if (pdl_image_resize(&img, sizes[s][0], sizes[s][1], (pdl_resize_mode)m, size, m,
                                 &out) != PDL_OK)
                abort();
            if (s == 0)
                round_trip(&out);
            pdl_image_free(&out);
        }
    pdl_image_free(&img);
    return 0;
}
