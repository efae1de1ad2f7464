/* The model zoo: every .cfg under models/ builds; AlexNet, VGG-16, GoogLeNet, ResNet-18 and
 * ResNet-50 have exactly torchvision's parameters, tensor names and MACs (within 1%: pdl also
 * counts batch norm and pooling work); the lessons (models/lessons) show the slides' ratios. */
#include "harness.h"
#include "pdl/pdl.h"

#include <dirent.h>
#include <string.h>

static pdl_net *load(const char *relative)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PDL_SOURCE_DIR, relative);
    pdl_net *net = NULL;
    pdl_status st = pdl_net_load(path, &net);
    if (st != PDL_OK)
        fprintf(stderr, "  %s: %s\n", relative, pdl_last_error());
    CHECK(st == PDL_OK);
    return net;
}

static int64_t total_macs(const pdl_net *net)
{
    int64_t macs = 0;
    for (int i = 0; i < pdl_net_layer_count(net); i++) {
        pdl_layer_info info;
        CHECK_OK(pdl_net_layer_info(net, i, &info));
        macs += info.macs;
    }
    return macs;
}

static pdl_layer_info last_info(const pdl_net *net)
{
    pdl_layer_info info;
    memset(&info, 0, sizeof info);
    CHECK_OK(pdl_net_layer_info(net, pdl_net_layer_count(net) - 1, &info));
    return info;
}

/* A tensor exists under torchvision's state-dict name with its shape. */
static void check_tensor(pdl_net *net, const char *name, int ndim, int64_t d0, int64_t d1,
                         int64_t d2, int64_t d3)
{
    int t = pdl_net_find_tensor(net, name);
    CHECK(t >= 0);
    if (t < 0) {
        fprintf(stderr, "  no tensor '%s'\n", name);
        return;
    }
    pdl_named_tensor nt;
    CHECK_OK(pdl_net_tensor(net, t, &nt));
    const int64_t dims[4] = {d0, d1, d2, d3};
    pdl_shape want = pdl_shape_make(ndim, dims);
    CHECK(pdl_shape_equal(&nt.shape, &want));
}

/* Counted by bench/peers/torchvision_counts.py (torchvision's definitions in torch.nn, 3x224x224,
 * batch 1): parameters, Conv2d + Linear multiply-adds, state-dict tensors other than
 * num_batches_tracked. */
static const struct {
    const char *file;
    int64_t params, macs;
    int tensors;
} torchvision[] = {
    {"models/alexnet.cfg", 61100840, 714188480, 16},
    {"models/vgg16.cfg", 138357544, 15470264320, 32},
    {"models/googlenet.cfg", 6624904, 1498376192, 287},
    {"models/resnet18.cfg", 11689512, 1814073344, 102},
    {"models/resnet50.cfg", 25557032, 4089184256, 267},
};

static void test_torchvision_totals(void)
{
    for (size_t m = 0; m < sizeof torchvision / sizeof torchvision[0]; m++) {
        pdl_net *net = load(torchvision[m].file);
        if (!net)
            continue;
        int64_t macs = total_macs(net);
        printf("  %-22s params %10lld (torchvision %10lld)  MACs %11lld (torchvision %11lld, "
               "%+.2f%%)\n",
               torchvision[m].file, (long long)pdl_net_param_count(net),
               (long long)torchvision[m].params, (long long)macs, (long long)torchvision[m].macs,
               100.0 * (double)(macs - torchvision[m].macs) / (double)torchvision[m].macs);
        CHECK(pdl_net_param_count(net) == torchvision[m].params);
        CHECK_CLOSE(macs, torchvision[m].macs, 0, 0.01);
        CHECK(pdl_net_tensor_count(net) == torchvision[m].tensors);
        pdl_shape out = pdl_net_output_shape(net);
        CHECK(out.ndim == 2 && out.dim[0] == 1 && out.dim[1] == 1000);
        pdl_shape in = pdl_net_input_shape(net);
        CHECK(in.dim[0] == 3 && in.dim[1] == 224 && in.dim[2] == 224);
        CHECK(!strcmp(last_info(net).type, "softmax_loss"));
        pdl_net_free(net);
    }
}

/* torchvision's state-dict names and shapes, so its weights map by name. */
static void test_torchvision_names(void)
{
    pdl_net *net = load("models/alexnet.cfg");
    if (net) {
        check_tensor(net, "features.0.weight", 4, 64, 3, 11, 11);
        check_tensor(net, "features.10.bias", 1, 256, 0, 0, 0);
        check_tensor(net, "classifier.1.weight", 2, 4096, 9216, 0, 0);
        check_tensor(net, "classifier.6.weight", 2, 1000, 4096, 0, 0);
        pdl_net_free(net);
    }
    if ((net = load("models/vgg16.cfg"))) {
        check_tensor(net, "features.0.weight", 4, 64, 3, 3, 3);
        check_tensor(net, "features.28.weight", 4, 512, 512, 3, 3);
        check_tensor(net, "classifier.0.weight", 2, 4096, 25088, 0, 0);
        check_tensor(net, "classifier.6.bias", 1, 1000, 0, 0, 0);
        pdl_net_free(net);
    }
    if ((net = load("models/googlenet.cfg"))) {
        check_tensor(net, "conv1.conv.weight", 4, 64, 3, 7, 7);
        check_tensor(net, "conv1.bn.running_var", 1, 64, 0, 0, 0);
        check_tensor(net, "inception3a.branch3.1.conv.weight", 4, 32, 16, 3, 3);
        check_tensor(net, "inception5b.branch4.1.conv.weight", 4, 128, 832, 1, 1);
        check_tensor(net, "fc.weight", 2, 1000, 1024, 0, 0);
        pdl_net_free(net);
    }
    if ((net = load("models/resnet18.cfg"))) {
        check_tensor(net, "conv1.weight", 4, 64, 3, 7, 7);
        check_tensor(net, "layer1.1.conv2.weight", 4, 64, 64, 3, 3);
        check_tensor(net, "layer2.0.downsample.0.weight", 4, 128, 64, 1, 1);
        check_tensor(net, "layer4.1.bn2.running_mean", 1, 512, 0, 0, 0);
        check_tensor(net, "fc.weight", 2, 1000, 512, 0, 0);
        CHECK(pdl_net_find_tensor(net, "layer1.0.downsample.0.weight") == -1);
        pdl_net_free(net);
    }
    if ((net = load("models/resnet50.cfg"))) {
        check_tensor(net, "layer1.0.downsample.0.weight", 4, 256, 64, 1, 1);
        check_tensor(net, "layer2.0.conv2.weight", 4, 128, 128, 3, 3);
        check_tensor(net, "layer3.5.bn3.weight", 1, 1024, 0, 0, 0);
        check_tensor(net, "layer4.2.conv3.weight", 4, 2048, 512, 1, 1);
        check_tensor(net, "fc.weight", 2, 1000, 2048, 0, 0);
        pdl_net_free(net);
    }
}

/* Every model file in dir builds; returns how many there were. */
static int build_all(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PDL_SOURCE_DIR, dir);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    if (!d)
        return 0;
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".cfg") != 0)
            continue;
        char relative[512];
        snprintf(relative, sizeof relative, "%s/%s", dir, e->d_name);
        pdl_net *net = load(relative);
        if (net) {
            CHECK(pdl_net_param_count(net) > 0);
            CHECK_OK(pdl_net_set_batch(net, 2));
            pdl_net_free(net);
        }
        count++;
    }
    closedir(d);
    return count;
}

static void test_every_model_builds(void)
{
    CHECK(build_all("models") >= 8);
    CHECK(build_all("models/lessons") >= 6);
}

typedef struct lesson {
    int64_t params, macs;
    int rf_h, rf_w;
    pdl_shape out;
} lesson;

static lesson lesson_of(const char *file)
{
    lesson s = {0};
    pdl_net *net = load(file);
    if (!net)
        return s;
    pdl_layer_info last = last_info(net);
    s = (lesson){pdl_net_param_count(net), total_macs(net), last.rf_h, last.rf_w, last.out_shape};
    pdl_net_free(net);
    return s;
}

/* The slides' arithmetic, with C the channel count of each lesson. */
static void test_lessons_show_the_ratios(void)
{
    const int64_t c = 64;
    lesson one = lesson_of("models/lessons/one_7x7.cfg");
    lesson three = lesson_of("models/lessons/three_3x3.cfg");
    CHECK(one.params == 49 * c * c);   /* one 7x7: 49 C^2 */
    CHECK(three.params == 27 * c * c); /* three 3x3: 27 C^2 */
    CHECK(one.rf_h == 7 && one.rf_w == 7 && three.rf_h == 7 && three.rf_w == 7);
    CHECK(pdl_shape_equal(&one.out, &three.out));
    CHECK_CLOSE((double)three.macs / (double)one.macs, 27.0 / 49.0, 1e-9, 0);

    lesson plain = lesson_of("models/lessons/plain_3x3.cfg");
    lesson neck = lesson_of("models/lessons/bottleneck.cfg");
    CHECK(plain.params == 9 * 256 * 256);
    CHECK(neck.params == 256 * 64 + 9 * 64 * 64 + 64 * 256);
    CHECK(plain.rf_h == 3 && neck.rf_h == 3 && plain.rf_w == 3 && neck.rf_w == 3);
    CHECK(pdl_shape_equal(&plain.out, &neck.out));

    const int64_t k = 192;
    lesson square = lesson_of("models/lessons/nxn_7x7.cfg");
    lesson factored = lesson_of("models/lessons/factorized_1x7_7x1.cfg");
    CHECK(square.params == 49 * k * k);
    CHECK(factored.params == 14 * k * k);
    CHECK(square.rf_h == 7 && square.rf_w == 7 && factored.rf_h == 7 && factored.rf_w == 7);
    CHECK(pdl_shape_equal(&square.out, &factored.out));
}

int main(void)
{
    RUN(test_torchvision_totals);
    RUN(test_torchvision_names);
    RUN(test_every_model_builds);
    RUN(test_lessons_show_the_ratios);
    return harness_summary();
}
