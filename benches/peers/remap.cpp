// cv::remap on caller-owned buffers (no copies): the render peer of benches/stages.rs.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {

void speakface_cv_threads(int n) { cv::setNumThreads(n); }

// src and dst: RGB24, w x h; map_x, map_y: float source positions per destination pixel.
// Returns 0 on success, 1 if OpenCV threw.
int speakface_cv_remap(const unsigned char* src, unsigned char* dst, const float* map_x, const float* map_y, int w, int h) {
    try {
        const cv::Mat s(h, w, CV_8UC3, const_cast<unsigned char*>(src));
        cv::Mat d(h, w, CV_8UC3, dst);
        const cv::Mat mx(h, w, CV_32FC1, const_cast<float*>(map_x));
        const cv::Mat my(h, w, CV_32FC1, const_cast<float*>(map_y));
        cv::remap(s, d, mx, my, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
        return d.data == dst ? 0 : 1;
    } catch (...) {
        return 1;
    }
}

}
