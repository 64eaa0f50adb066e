FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir -r requirements.lock && pip install --no-cache-dir --no-deps .
ENV VOXROUTE_DATA_DIR=/data
EXPOSE 8000
CMD ["voxroute", "serve", "--host", "0.0.0.0"]
